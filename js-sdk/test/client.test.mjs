import assert from 'node:assert/strict'
import { test } from 'node:test'
import * as astrid from '../dist/astrid.mjs'
import { TelemetryClient } from '../dist/astrid.mjs'
import { execFileSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const memory = () => ({ name: 'mem', records: [], export(b) { this.records.push(...b.records) }, shutdown() {} })

test('events, metrics, logs, errors and spans reach the backend with ids and parents', async () => {
  const mem = memory()
  const c = new TelemetryClient({ projectName: 'test-app', enabled: true, backend: mem, env: {} })
  c.trackEvent('user.login', { method: 'sso' })
  c.trackMetric('jobs.done', 2, { attributes: { queue: 'a' } })
  c.trackMetric('jobs.done', 3, { attributes: { queue: 'a' } })
  c.trackLog('cache warmed', { level: 'warning' })
  c.trackError(new TypeError('boom'), { where: 'import' })
  await c.span('checkout', { items: 3 }, async () => {
    await new Promise((r) => setTimeout(r, 1))
    c.trackEvent('inside')
  })
  assert.equal(await c.flush(5), true)
  const by = Object.fromEntries(mem.records.map((r) => [r.name, r]))
  assert.deepEqual(by['user.login'].attributes, { method: 'sso' })
  assert.match(by['user.login'].id, /^[0-9a-f]{32}$/)
  assert.equal(by['jobs.done'].value, 5)
  assert.equal(by['jobs.done'].metricType, 'counter')
  assert.equal(by['cache warmed'] ?? mem.records.find((r) => r.type === 'log').body, 'cache warmed')
  const err = mem.records.find((r) => r.type === 'error')
  assert.equal(err.name, 'TypeError')
  assert.equal(err.attributes['exception.message'], 'boom')
  assert.equal(err.attributes.where, 'import')
  assert.equal(by.inside.traceId, by.checkout.traceId)
  assert.equal(by.inside.parentSpanId, by.checkout.spanId)
  assert.ok(by.checkout.end >= by.checkout.time)
  const s = c.stats()
  for (const k of ['enqueued', 'queued', 'sent', 'dropped', 'failed', 'retries', 'rejected', 'sampled_out', 'filtered', 'metric_series_dropped', 'breaker', 'failures_by_reason', 'backends', 'enabled', 'invalid', 'consent_rule', 'privacy']) assert.ok(k in s, k)
  assert.equal(s.sent, mem.records.length)
  assert.equal(await c.shutdown(), true)
})

test('log levels: names, whole numbers 1-24, and anything else is info (9) as in Python, even names of Object.prototype', async () => {
  const mem = memory()
  const c = new TelemetryClient({ projectName: 'levels', enabled: true, backend: mem, env: {} })
  const levels = ['warning', 'ERROR', 'critical', 13, 24, 13.5, 'constructor', '__proto__', 'toString', 'hasOwnProperty', 'nope', 0, 25, NaN, null, {}]
  for (const level of levels) c.trackLog('x', { level })
  assert.equal(await c.flush(5), true)
  const got = mem.records.map((r) => [r.severityNumber, r.severityText])
  assert.deepEqual(got, [[13, 'WARN'], [17, 'ERROR'], [21, 'FATAL'], [13, 'WARN'], [24, 'FATAL4'], ...Array(11).fill([9, 'INFO'])])
  await c.shutdown()
})

test('module-level functions are no-ops before init and forward after it', async () => {
  assert.equal(astrid.getClient(), undefined)
  astrid.trackEvent('ignored')
  assert.equal(await astrid.flush(), true)
  assert.deepEqual(astrid.stats(), {})
  // spans before init: fn runs with a span that records nothing; nothing throws
  assert.equal(astrid.span('x', {}, (s) => s.setAttribute('k', 1).setStatus('ok').addEvent('e') && 7), 7)
  assert.equal(astrid.span('x', (s) => (s.end(), 8)), 8)
  astrid.startSpan('y').setAttributes({ a: 1 }).end()
  const mem = memory()
  const c = astrid.init({ projectName: 'mod', enabled: true, backend: mem, env: {} })
  assert.equal(astrid.getClient(), c)
  astrid.trackEvent('hello')
  assert.equal(await astrid.flush(), true)
  assert.equal(mem.records[0].name, 'hello')
  assert.equal(await astrid.shutdown(), true)
})

test('span(): a status the code set is kept, late calls on an ended span are counted, any thenable is awaited', async () => {
  const mem = memory()
  const c = new TelemetryClient({ projectName: 'spans', enabled: true, backend: mem, env: {}, installAtexit: false })
  assert.throws(() => c.span('own', {}, (s) => {
    s.setStatus('error', 'card declined')
    throw new RangeError('boom')
  }), RangeError)
  await assert.rejects(c.span('async', {}, async () => { throw new TypeError('late') }), TypeError)
  assert.equal(await c.span('thenable', {}, () => ({ then: (res) => res(7) })), 7)
  const s = c.startSpan('sealed')
  s.end()
  s.setAttribute('k', 1).setStatus('ok').addEvent('e')
  s.end()
  assert.equal(c.stats().invalid, 3, 'three late changes (a second end() is not one)')
  assert.equal(await c.flush(5), true)
  const by = Object.fromEntries(mem.records.map((r) => [r.name, r]))
  assert.equal(by.own.status, 'error')
  assert.equal(by.own.statusMessage, 'card declined', 'as Python: the message the code set')
  assert.deepEqual(by.own.events, [], 'and no exception event over it')
  assert.equal(by.async.statusMessage, 'TypeError')
  assert.equal(by.async.events[0].name, 'exception')
  assert.ok(by.thenable.end >= by.thenable.time)
  assert.deepEqual(by.sealed.attributes, {})
  assert.equal(by.sealed.status, 'unset')
  await c.shutdown()
})

test('the memory backend: by name (client.backends) or as an object, with batches, per-type lists, clear and maxRecords', async () => {
  const c = new TelemetryClient({ projectName: 'mem', enabled: true, backend: 'memory', maxRecords: 2, env: {}, installAtexit: false })
  const [m] = c.backends
  assert.equal(m.name, 'memory')
  c.trackEvent('a')
  c.trackEvent('b')
  c.trackLog('c')
  assert.equal(await c.flush(5), true)
  assert.deepEqual(m.records.map((r) => r.name), ['b', 'log'], 'the newest maxRecords')
  assert.equal(m.events.length, 1)
  assert.equal(m.logs[0].body, 'c')
  assert.deepEqual([m.spans, m.metrics, m.errors], [[], [], []])
  assert.equal(m.batches.length, 1)
  assert.equal(m.resource['service.name'], 'mem')
  const kept = m.records
  m.clear()
  assert.deepEqual([m.records, m.batches], [[], []])
  assert.equal(kept.length, 0, 'cleared in place')
  c.trackEvent('x')
  c.trackEvent('y')
  c.trackEvent('z')
  assert.equal(await c.flush(5), true)
  assert.ok(m.batches.reduce((n, b) => n + b.records.length, 0) <= 3 && m.batches.length >= 1, 'batches are bounded by maxRecords too (the newest batch is kept whole)')
  await c.shutdown()
  assert.equal(c.backends[0], m, 'still there after shutdown, to read what was sent')
  const own = astrid.memoryBackend()
  const d = new TelemetryClient({ projectName: 'mem2', enabled: true, backend: own, env: {}, installAtexit: false })
  d.span('s', () => d.trackEvent('in'))
  assert.equal(await d.flush(5), true)
  assert.deepEqual([own.spans.length, own.events.length], [1, 1])
  await d.shutdown()
})

test('protocol: OTLP/HTTP JSON is what the JS SDK sends; another protocol is refused at construction', () => {
  assert.throws(() => new TelemetryClient({ projectName: 'p', protocol: 'grpc' }), /protocol must be 'http\/json'/)
  assert.throws(() => new TelemetryClient({ projectName: 'p', protocol: 'http/protobuf' }), TypeError)
  new TelemetryClient({ projectName: 'p', protocol: 'http/json', enabled: false })
  // the environment never makes the SDK throw
  new TelemetryClient({ projectName: 'p', enabled: false, env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' } })
})

test('after shutdown the client is off: nothing is recorded or counted, enabled is false', async () => {
  const mem = memory()
  const c = new TelemetryClient({ projectName: 'closed', enabled: true, backend: mem, env: {}, installAtexit: false })
  c.trackEvent('before')
  assert.equal(await c.shutdown(), true)
  assert.equal(c.enabled, false)
  c.trackEvent('after')
  c.trackMetric('after', 1)
  c.startSpan('after').end()
  assert.deepEqual(mem.records.map((r) => r.name), ['before'])
  assert.equal(c.stats().enqueued, 1)
  assert.equal(c.stats().dropped, 0)
})

// Node before 20.16 (no process.getBuiltinModule, no global crypto): what the SDK needs from Node must be there
// in the very tick of the import, in both builds (run by scripts/test on Node 18 as well).
test('a span started in the tick of the import follows awaits; ids come from crypto (ESM and CommonJS builds)', () => {
  const body = `
    const recs = []
    const c = new A.TelemetryClient({ projectName: 'tick', enabled: true, backend: { name: 'm', export(b) { recs.push(...b.records) } }, env: {}, installAtexit: false })
    const ids = []
    const rnd = Math.random
    Math.random = () => { throw new Error('Math.random used for an id') }
    c.span('outer', {}, async () => {
      await new Promise((r) => setTimeout(r, 1))
      c.trackEvent('inner')
    }).then(async () => {
      Math.random = rnd
      await c.flush(5)
      const by = Object.fromEntries(recs.map((r) => [r.name, r]))
      console.log(JSON.stringify({ parent: by.inner.parentSpanId === by.outer.spanId, trace: by.inner.traceId === by.outer.traceId }))
      await c.shutdown()
    })`
  for (const [file, load] of [['astrid.mjs', (p) => `import * as A from ${JSON.stringify(p)}`], ['astrid.cjs', (p) => `const A = require(${JSON.stringify(p)})`]]) {
    const path = fileURLToPath(new URL('../dist/' + file, import.meta.url))
    const args = file.endsWith('.mjs') ? ['--input-type=module', '-e', load(path) + body] : ['-e', load(path) + body]
    const out = execFileSync(process.execPath, args, { encoding: 'utf8', timeout: 20000 })
    assert.deepEqual(JSON.parse(out.trim().split('\n').pop()), { parent: true, trace: true }, file + ' on Node ' + process.version)
  }
})
