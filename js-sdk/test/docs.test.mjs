// docs/js.md stays true: the option table is generated from src/options.ts, the options mirror Python's.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { documented, options } from '../scripts/options-table.mjs'
import { DEFAULTS, TelemetryClient } from '../dist/astrid.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..')

test('the option table in docs/js.md is the one src/options.ts generates', async () => {
  const m = await options()
  assert.equal(documented(), m.optionsTable(), 'run: node scripts/options-table.mjs --write')
  assert.deepEqual(Object.keys(m.OPTION_DOCS).sort(), Object.keys(DEFAULTS).sort())
})

test('every documented default is the one a client gets', () => {
  const c = new TelemetryClient({ projectName: 'defaults', enabled: false, env: {} })
  for (const [k, v] of Object.entries(DEFAULTS)) if (k !== 'projectName') assert.deepEqual(c.config[k], v ?? c.config[k], k)
})

const python = join(repo, '.venv', 'bin', 'python')
test('the options are the Python SDK\'s, in camelCase (except the documented ones)', { skip: !existsSync(python) && 'the Python venv (.venv) is not there' }, () => {
  const names = JSON.parse(execFileSync(python, ['-c', 'import json; from astrid.config import TelemetryConfig as C; print(json.dumps(C.option_names()))'], { encoding: 'utf8' }))
  const camel = names.map((n) => n.replace(/_([a-z])/g, (_, c) => c.toUpperCase()))
  const notInJs = ['spoolDir', 'caFile', 'clientCert', 'clientKey']
  // the disk spool (spoolDir and its spool* limits) is Python's only
  assert.deepEqual(camel.filter((n) => !(n in DEFAULTS) && !notInJs.includes(n) && !/^spool/.test(n)), [])
  assert.deepEqual(Object.keys(DEFAULTS).filter((n) => !camel.includes(n)), [])
  const doc = readFileSync(join(repo, 'docs', 'js.md'), 'utf8')
  for (const n of notInJs) assert.ok(doc.includes('`' + n + '`'), `docs/js.md says ${n} is not in the JS SDK`)
  // the Python defaults, where both have the option
  const py = JSON.parse(execFileSync(python, ['-c', 'import json, dataclasses; from astrid.config import TelemetryConfig as C; print(json.dumps({f.name: f.default for f in dataclasses.fields(C) if isinstance(f.default, (int, float, str, bool))}))'], { encoding: 'utf8' }))
  for (const [k, v] of Object.entries(py)) {
    const c = k.replace(/_([a-z])/g, (_, x) => x.toUpperCase())
    if (c in DEFAULTS && k !== 'project_name') assert.equal(DEFAULTS[c], v, c)
  }
})

test('js-sdk/README.md points at docs/js.md', () => {
  assert.match(readFileSync(join(here, '..', 'README.md'), 'utf8'), /docs\/js\.md/)
})
