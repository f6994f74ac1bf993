// Sampling: the shared vectors (../tests/vectors/sampling.json) through the pipeline's own decision, and
// whole traces kept or dropped together through the client, as the Python SDK does.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { build } from 'esbuild'
import { TelemetryClient } from '../dist/astrid.mjs'

const here = new URL('.', import.meta.url)
const DATA = JSON.parse(readFileSync(new URL('../../tests/vectors/sampling.json', here), 'utf8'))

const r = await build({
  stdin: {
    contents: `export { pipeline } from './pipeline'
      export { makeConfig } from './config'
      export { aggregator } from './aggregation'`,
    resolveDir: new URL('../src/', here).pathname,
    loader: 'ts',
  },
  bundle: true, format: 'esm', platform: 'node', define: { __NODE__: 'true' }, write: false, logLevel: 'error', external: ['node:*'],
})
const M = await import('data:text/javascript;base64,' + Buffer.from(r.outputFiles[0].contents).toString('base64'))

test('every sampling vector: the pipeline keeps a trace exactly when the Python rule does', () => {
  const failed = []
  const byRate = new Map()
  for (const c of DATA.cases) byRate.set(c.rate, [...(byRate.get(c.rate) || []), c])
  for (const [rate, cases] of byRate) {
    const cfg = M.makeConfig({ projectName: 'sampling', enabled: true, sampleRate: rate, env: {} })
    const p = M.pipeline(cfg, [], {}, undefined, M.aggregator(10))
    p.held = true // nothing leaves: only the decision is looked at
    for (const c of cases) {
      const before = p.stats().sampled_out
      // a span by its trace id; an event outside any span by its own id
      p.enqueue({ type: 'span', id: '', name: 's', time: 0, attributes: {}, traceId: c.trace_id, spanId: '1'.repeat(16) })
      p.enqueue({ type: 'event', id: c.trace_id, name: 'e', time: 0, attributes: {} })
      const out = p.stats().sampled_out - before
      if (out !== (c.keep ? 0 : 2)) failed.push(`${rate} ${c.trace_id}: keep ${c.keep}, sampled out ${out} of 2`)
    }
    p.clear()
  }
  assert.deepEqual(failed, [])
  assert.ok(DATA.cases.length > 150)
})

test('sampling is decided per trace: a span and everything inside it are kept or dropped together', async () => {
  const records = []
  const mem = { name: 'mem', export(b) { records.push(...b.records) }, shutdown() {} }
  const c = new TelemetryClient({ projectName: 'sampling', enabled: true, backend: mem, sampleRate: 0.5, maxQueueSize: 100000, env: {} })
  for (let i = 0; i < 300; i++) {
    c.span('root', { i }, () => {
      c.trackEvent('in.root')
      c.span('child', undefined, () => c.trackEvent('in.child'))
    })
    c.trackEvent('alone')
  }
  c.trackLog('logs are never sampled')
  assert.equal(await c.flush(10), true)
  const byTrace = new Map()
  for (const x of records) if (x.traceId) byTrace.set(x.traceId, [...(byTrace.get(x.traceId) || []), x.name].sort())
  const roots = records.filter((x) => x.name === 'root')
  for (const [t, names] of byTrace) assert.deepEqual(names, ['child', 'in.child', 'in.root', 'root'], t)
  const cut = DATA.cases.find((x) => x.rate === 0.5 && !x.keep).trace_id.slice(16)
  for (const t of byTrace.keys()) assert.ok(t.slice(16) < '8000000000000000', t)
  const alone = records.filter((x) => x.name === 'alone')
  for (const a of alone) assert.ok(a.id.slice(16) < '8000000000000000', a.id)
  assert.ok(cut >= '8000000000000000')
  assert.ok(roots.length > 90 && roots.length < 210, `${roots.length} of 300 traces kept`)
  assert.ok(alone.length > 90 && alone.length < 210, `${alone.length} of 300 lone events kept`)
  const s = c.stats()
  assert.equal(s.sampled_out, 4 * (300 - roots.length) + (300 - alone.length))
  assert.equal(s.enqueued, 4 * roots.length + alone.length + 1, 'what is sampled out is never queued')
  assert.equal(records.filter((x) => x.type === 'log').length, 1)
  await c.shutdown()
})
