// The shared encoding vectors (../tests/vectors/encoding.json): the same records must give the same
// OTLP/HTTP JSON (per signal) and the same generic HTTP document as the Python SDK writes.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { build } from 'esbuild'

const here = new URL('.', import.meta.url)
const DATA = JSON.parse(readFileSync(new URL('../../tests/vectors/encoding.json', here), 'utf8'))

// the encoders and the backends' routing, straight from the sources
const r = await build({
  stdin: {
    contents: `export * from './encoding/index'
      export { signalOf } from './backends/otlp'
      export { encodeDocument } from './backends/http'
      export { severityText, SDK_VERSION } from './records'`,
    resolveDir: new URL('../src/', here).pathname,
    loader: 'ts',
  },
  bundle: true, format: 'esm', platform: 'node', define: { __NODE__: 'true' }, write: false, logLevel: 'error', external: ['node:*'],
})
const M = await import('data:text/javascript;base64,' + Buffer.from(r.outputFiles[0].contents).toString('base64'))

/** A JS record (records.ts) from the vector's language-neutral form: camelCase, *_ns → ms-or-ns fields. */
export const toRecord = (d) => {
  const o = {}
  for (const [k, v] of Object.entries(d)) o[k.replace(/_ns$/, '').replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = k === 'events' ? v.map(toRecord) : v
  if (o.severityNumber) o.severityText = M.severityText(o.severityNumber)
  return o
}

const fill = (doc) => JSON.parse(JSON.stringify(doc).replaceAll('{sdk_version}', M.SDK_VERSION).replaceAll('{sdk_language}', 'javascript'))
const ENCODERS = { traces: M.encodeTraces, metrics: M.encodeMetrics, logs: M.encodeLogs }

/** What the JS SDK sends for one case: each signal's body and the http document, as parsed JSON. */
export const encodeCase = (c) => {
  const records = c.records.map(toRecord)
  const by = {}
  for (const rec of records) (by[M.signalOf(rec.type, c.events_as)] ||= []).push(rec)
  const out = {}
  for (const [sig, recs] of Object.entries(by)) out[sig] = JSON.parse(JSON.stringify(ENCODERS[sig](recs, DATA.resource)))
  out.http = JSON.parse(M.encodeDocument(c.records.map(toRecord), DATA.resource))
  return out
}

let passed = 0
for (const c of DATA.cases) {
  test(`encoding vector ${c.id}`, () => {
    assert.deepStrictEqual(encodeCase(c), fill(c.expected))
    passed++
  })
}
test('encoding vectors cover every signal, both event modes and the http document', () => {
  const seen = new Set(DATA.cases.flatMap((c) => Object.keys(c.expected).map((k) => k + ':' + c.events_as)))
  for (const k of ['traces:spans', 'metrics:spans', 'logs:spans', 'logs:logs', 'http:spans', 'http:logs']) assert.ok(seen.has(k), k)
})
process.on('exit', () => console.log(`encoding vectors: ${passed}/${DATA.cases.length}`))
