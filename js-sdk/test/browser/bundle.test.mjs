// The SDK bundle shipped inside the Python package (the inspector's playground loads it) must be
// exactly what `npm run build` makes from these sources.
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { BUNDLE, SDK } from './harness.mjs'

const SHIPPED = path.join(SDK, '..', 'src', 'astrid', 'inspector', 'static', 'astrid.min.js')

test('the inspector ships the bundle byte for byte as built', { skip: fs.existsSync(BUNDLE) ? false : 'dist/astrid.min.js not built (npm run build)' }, () => {
  const built = fs.readFileSync(BUNDLE)
  const shipped = fs.existsSync(SHIPPED) ? fs.readFileSync(SHIPPED) : Buffer.alloc(0)
  assert.ok(
    built.equals(shipped),
    'src/astrid/inspector/static/astrid.min.js differs from a fresh build; run `npm run build` in js-sdk/ and copy dist/astrid.min.js there',
  )
})
