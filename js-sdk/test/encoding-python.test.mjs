// Values the JSON vectors cannot hold (NaN, infinities, bytes) are encoded exactly as the Python
// encoder encodes them: both encoders run here on the same records and their JSON is compared.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { build } from 'esbuild'
import fc from 'fast-check'

const root = new URL('../../', import.meta.url).pathname
const PYTHON = root + '.venv/bin/python'
const r = await build({
  stdin: { contents: `export * from './encoding/index'`, resolveDir: root + 'js-sdk/src', loader: 'ts' },
  bundle: true, format: 'esm', platform: 'node', define: { __NODE__: 'true' }, write: false, logLevel: 'error', external: ['node:*'],
})
const M = await import('data:text/javascript;base64,' + Buffer.from(r.outputFiles[0].contents).toString('base64'))

// Random records (every type, random attributes, ids, times, statuses, metric shapes) through both
// SDKs' encoders and the generic HTTP document: the JSON must be equal. Built here, before the first
// test(): under --test-force-exit a test registered after a top-level await never runs.
const b2 = await build({
  stdin: {
    contents: `export * from './encoding/index'
      export { signalOf } from './backends/otlp'
      export { encodeDocument } from './backends/http'
      export { severityText, SDK_VERSION } from './records'`,
    resolveDir: root + 'js-sdk/src', loader: 'ts',
  },
  bundle: true, format: 'esm', platform: 'node', define: { __NODE__: 'true' }, write: false, logLevel: 'error', external: ['node:*'],
})
const J = await import('data:text/javascript;base64,' + Buffer.from(b2.outputFiles[0].contents).toString('base64'))

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

const hex = (n) => fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n })
const ns = fc.bigInt({ min: 1n, max: 2n ** 62n }).map(String)
const num = fc.oneof(fc.integer({ min: -(2 ** 53), max: 2 ** 53 }), fc.double({ noNaN: true, noDefaultInfinity: true }).filter((x) => !Number.isInteger(x)))
const scalar = fc.oneof(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.boolean(), num)
const rattrs = fc.dictionary(fc.string({ maxLength: 12 }).filter((k) => k !== '__proto__'), fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })), { maxKeys: 5 })
const record = fc.record({
  type: fc.constantFrom('event', 'span', 'metric', 'log', 'error'),
  id: hex(32), name: fc.string({ maxLength: 15 }), time_ns: ns, attributes: rattrs,
  trace: fc.option(hex(32), { nil: undefined }), span: hex(16), parent: fc.option(hex(16), { nil: undefined }),
  end: ns, status: fc.constantFrom('unset', 'ok', 'error'), message: fc.string({ maxLength: 10 }), kind: fc.integer({ min: 1, max: 5 }),
  events: fc.array(fc.record({ name: fc.string({ maxLength: 8 }), time_ns: ns, attributes: rattrs }), { maxLength: 2 }),
  metric_type: fc.constantFrom('counter', 'gauge', 'histogram'), value: num, unit: fc.constantFrom('', 'ms', 'By'), description: fc.constantFrom('', 'd'),
  count: fc.nat(100), sum: fc.double({ noNaN: true, noDefaultInfinity: true, min: 0.5, max: 1e6 }).filter((x) => !Number.isInteger(x)),
  bounds: fc.array(fc.constantFrom(0.5, 2.5, 10.25), { maxLength: 3 }), body: fc.string({ maxLength: 15 }), severity_number: fc.integer({ min: 1, max: 24 }),
}).map((r) => {
  const d = { type: r.type, id: r.id, name: r.name, time_ns: r.time_ns, attributes: r.attributes }
  if (r.type === 'event' && r.trace) Object.assign(d, { trace_id: r.trace }, r.parent ? { parent_span_id: r.parent } : {})
  if (r.type === 'span') Object.assign(d, { trace_id: r.trace || r.id, span_id: r.span, end_ns: r.end, status: r.status, status_message: r.message, kind: r.kind, events: r.events }, r.parent ? { parent_span_id: r.parent } : {})
  if (r.type === 'metric') {
    Object.assign(d, { metric_type: r.metric_type, start_ns: r.time_ns, unit: r.unit, description: r.description })
    if (r.metric_type === 'histogram') Object.assign(d, { count: r.count, sum: r.sum, min: 0.25, max: r.sum, bounds: r.bounds, bucket_counts: [...r.bounds, 0].map((_, i) => i) })
    else d.value = r.value
  }
  if (r.type === 'log' || r.type === 'error') Object.assign(d, { body: r.body, severity_number: r.severity_number }, r.trace ? { trace_id: r.trace, span_id: r.span } : {})
  return d
})

test('random records encode to the same OTLP JSON and HTTP document in both SDKs', { skip: !existsSync(PYTHON) && 'no .venv/bin/python (scripts/test creates it)' }, () => {
  const batches = fc.sample(fc.tuple(fc.array(record, { minLength: 1, maxLength: 6 }), fc.constantFrom('spans', 'logs')), { numRuns: 150, seed: 5 })
  const script = `
import json, sys, importlib.util
spec = importlib.util.spec_from_file_location("g", "tests/vectors/generate_encoding.py")
g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g)
from astrid.encoding import otlp_common, otlp_json
from astrid.backends.http import encode_document
out = []
for records, events_as in json.loads(sys.stdin.read()):
    recs = [g.to_record(d) for d in records]
    doc = {s: json.loads(otlp_json.encode(s, grp, {"service.name": "x"})) for s, grp in otlp_common.split_by_signal(recs, events_as).items()}
    doc["http"] = json.loads(encode_document(g.Batch([g.to_record(d) for d in records], g.R.Resource({"service.name": "x"}))))
    out.append(doc)
print(json.dumps(out))
`
  const py = JSON.parse(execFileSync(PYTHON, ['-c', script], { input: JSON.stringify(batches), cwd: root, env: { ...process.env, PYTHONPATH: root + 'src' }, maxBuffer: 1 << 26 }).toString())
  const toJs = (d) => {
    const o = {}
    for (const [k, v] of Object.entries(d)) o[k.replace(/_ns$/, '').replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = k === 'events' ? v.map(toJs) : v
    if (o.severityNumber) o.severityText = J.severityText(o.severityNumber)
    return o
  }
  const ENC = { traces: J.encodeTraces, metrics: J.encodeMetrics, logs: J.encodeLogs }
  batches.forEach(([records, eventsAs], i) => {
    const by = {}
    for (const rec of records.map(toJs)) (by[J.signalOf(rec.type, eventsAs)] ||= []).push(rec)
    const js = {}
    for (const [sig, rs] of Object.entries(by)) js[sig] = JSON.parse(JSON.stringify(ENC[sig](rs, { 'service.name': 'x' })))
    js.http = JSON.parse(J.encodeDocument(records.map(toJs), { 'service.name': 'x' }))
    const want = JSON.parse(JSON.stringify(py[i]).replaceAll('"version":"' + py[i].http.sdk.version + '"', '"version":"' + J.SDK_VERSION + '"').replace('"language":"python"', '"language":"javascript"'))
    assert.deepStrictEqual(js, want, JSON.stringify([records, eventsAs]))
  })
})
