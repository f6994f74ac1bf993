// The shared privacy vectors (../tests/vectors/privacy.json) run against the JS engine, unchanged.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { build } from 'esbuild'

const here = new URL('.', import.meta.url)
const DATA = JSON.parse(readFileSync(new URL('../../tests/vectors/privacy.json', here), 'utf8'))

/** src/privacy as one ES module (the sources themselves, not a build that may lag behind) */
export const load = async (entry) => {
  const r = await build({
    entryPoints: [new URL('../src/' + entry, here).pathname], bundle: true, format: 'esm', platform: 'node',
    define: { __NODE__: 'true' }, write: false, logLevel: 'error',
  })
  return import('data:text/javascript;base64,' + Buffer.from(r.outputFiles[0].contents).toString('base64'))
}
const { createPrivacyEngine } = await load('privacy/index.ts')

const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
export const run = (c) => {
  const o = {}
  for (const [k, v] of Object.entries({ ...DATA.defaults, ...(c.config || {}) })) o[camel(k)] = v
  const e = createPrivacyEngine(o)
  return c.type === 'text' ? e.sanitizeText(c.input) : e.sanitizeAttributes(c.input)
}

test('every privacy vector passes', async () => {
  const failed = []
  let passed = 0
  for (const c of DATA.cases) {
    const got = await run(c)
    let same = true
    try {
      assert.deepStrictEqual(got, c.expected)
    } catch {
      same = false
    }
    // a documented limitation is expected to stay unmet (the Python suite checks the same)
    if (same === !c.known_limitation) passed++
    else failed.push({ id: c.id, input: c.input, expected: c.expected, got })
  }
  if (failed.length) console.log(JSON.stringify(failed.slice(0, 30), null, 1))
  console.log(`privacy vectors: ${passed}/${DATA.cases.length}`)
  assert.equal(failed.length, 0, `${failed.length} of ${DATA.cases.length} privacy vectors failed: ${failed.slice(0, 10).map((f) => f.id).join(', ')}`)
})
