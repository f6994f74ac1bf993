// Values the JSON vectors cannot hold (NaN, infinities, bytes) are encoded exactly as the Python
// encoder encodes them: both encoders run here on the same records and their JSON is compared.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { build } from 'esbuild'

const root = new URL('../../', import.meta.url).pathname
const PYTHON = root + '.venv/bin/python'
const r = await build({
  stdin: { contents: `export * from './encoding/index'`, resolveDir: root + 'js-sdk/src', loader: 'ts' },
  bundle: true, format: 'esm', platform: 'node', define: { __NODE__: 'true' }, write: false, logLevel: 'error', external: ['node:*'],
})
const M = await import('data:text/javascript;base64,' + Buffer.from(r.outputFiles[0].contents).toString('base64'))

const T = '1764720000123456789'
const attrs = { nan: NaN, inf: Infinity, ninf: -Infinity, max_safe: 2 ** 53, neg: -(2 ** 53), huge: 1e300, small: 5e-324, mixed: [NaN, 1, 'a', true] }
const records = [
  { type: 'event', id: 'a'.repeat(32), name: 'special', time_ns: T, attributes: attrs },
  { type: 'metric', id: 'b'.repeat(32), name: 'g', metric_type: 'gauge', start_ns: T, time_ns: T, value: NaN, attributes: {} },
  { type: 'metric', id: 'c'.repeat(32), name: 'c', metric_type: 'counter', start_ns: T, time_ns: T, value: -Infinity, attributes: {} },
  { type: 'metric', id: 'd'.repeat(32), name: 'h', metric_type: 'histogram', start_ns: T, time_ns: T, count: 2, sum: Infinity, min: -Infinity, max: Infinity, bounds: [0.5, Infinity], bucket_counts: [1, 0, 1], attributes: {} },
]
// JSON with NaN and Infinity spelled as Python's json module reads them
const pyJson = (v) => JSON.stringify(v, (_k, x) => (typeof x === 'number' && !isFinite(x) ? `@@${x}@@` : x)).replace(/"@@(NaN|Infinity|-Infinity)@@"/g, '$1')
const toRecord = (d) => {
  const o = {}
  for (const [k, v] of Object.entries(d)) o[k.replace(/_ns$/, '').replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = v
  return o
}

test('non-finite numbers and extreme doubles encode as in Python', { skip: !existsSync(PYTHON) && 'no .venv/bin/python (scripts/test creates it)' }, () => {
  const script = `
import json, sys, importlib.util
spec = importlib.util.spec_from_file_location("g", "tests/vectors/generate_encoding.py")
g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g)
from astrid.encoding import otlp_json
recs = [g.to_record(d) for d in json.loads(sys.stdin.read())]
print(json.dumps([json.loads(otlp_json.encode_traces(recs[:1], {})), json.loads(otlp_json.encode_metrics(recs[1:], {}))]))
`
  const py = JSON.parse(execFileSync(PYTHON, ['-c', script], { input: pyJson(records), cwd: root, env: { ...process.env, PYTHONPATH: root + 'src' } }).toString())
  const js = JSON.parse(JSON.stringify([M.encodeTraces(records.slice(0, 1).map(toRecord), {}), M.encodeMetrics(records.slice(1).map(toRecord), {})]))
  for (const doc of [...py, ...js]) for (const k in doc) doc[k][0][Object.keys(doc[k][0])[1]][0].scope.version = 'v'
  assert.deepStrictEqual(js, py)
  const text = JSON.stringify(js)
  for (const v of ['"NaN"', '"Infinity"', '"-Infinity"', '"intValue":"9007199254740992"', '"doubleValue":1e+300']) assert.ok(text.includes(v), v)
})

test('bytes become base64 bytesValue and plain objects kvlistValue', () => {
  assert.deepStrictEqual(M.anyValue(new Uint8Array([0, 104, 105, 255])), { bytesValue: 'AGhp/w==' })
  assert.deepStrictEqual(M.anyValue({ a: [1, 'x'] }), {
    kvlistValue: { values: [{ key: 'a', value: { arrayValue: { values: [{ intValue: '1' }, { stringValue: 'x' }] } } }] },
  })
  assert.deepStrictEqual(M.anyValue(2 ** 63), { doubleValue: 2 ** 63 })
  assert.deepStrictEqual(M.anyValue(-(2 ** 62)), { intValue: String(-(2 ** 62)) })
})
