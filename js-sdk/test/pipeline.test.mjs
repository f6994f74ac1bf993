// Pipeline, retry and breaker behaviour against real loopback servers that misbehave.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { TelemetryClient } from '../dist/astrid.mjs'
import { hang, ok, receiver, reset, slow, status, until } from './support/server.mjs'

const fast = { backoffBase: 0.01, backoffMax: 0.05, installAtexit: false, env: {}, enabled: true, compression: 'none' }
const client = (url, o = {}) => new TelemetryClient({ projectName: 'pipe', backend: 'http', endpoint: url + '/collect', ...fast, ...o })
const names = (srv) => srv.records().map((r) => r.name).sort()

test('500 and 503 are retried until delivered, exactly the records once', async () => {
  const srv = await receiver([status(500), status(503), ok])
  const c = client(srv.url)
  for (let i = 0; i < 3; i++) c.trackEvent('e' + i)
  assert.equal(await c.flush(5), true)
  assert.deepEqual(names(srv), ['e0', 'e1', 'e2'])
  const s = c.stats()
  assert.equal(s.sent, 3)
  assert.equal(s.retries, 2)
  assert.deepEqual(s.failures_by_reason, { http_500: 1, http_503: 1 })
  assert.equal(srv.requests[0].body.records[0].id, srv.requests[2].body.records[0].id, 'a retry resends the same ids')
  await c.shutdown()
  await srv.close()
})

test('429 with Retry-After in seconds and as an HTTP date is honoured', async () => {
  for (const value of ['1', () => new Date(Date.now() + 2000).toUTCString()]) {
    const srv = await receiver([(req, res) => res.writeHead(429, { 'retry-after': typeof value === 'function' ? value() : value }).end(), ok])
    const c = client(srv.url)
    c.trackEvent('later')
    assert.equal(await c.flush(5), true)
    assert.equal(srv.requests.length, 2)
    // the retry waits for the server's word (backoff alone would be ≤ 50 ms here)
    assert.ok(srv.requests[1].at - srv.requests[0].at >= 900, `retry after ${srv.requests[1].at - srv.requests[0].at} ms`)
    await c.shutdown()
    await srv.close()
  }
})

test('connection resets and a hung server are retried; the hung request times out', async () => {
  const srv = await receiver([reset, hang, ok])
  const c = client(srv.url, { timeout: 0.3 })
  c.trackEvent('survivor')
  assert.equal(await c.flush(5), true)
  assert.deepEqual(names(srv), ['survivor'])
  const s = c.stats()
  assert.equal(s.failures_by_reason.connection_error, 1)
  assert.equal(s.failures_by_reason.timeout, 1)
  await c.shutdown()
  await srv.close()
})

test('a slow server is waited for', async () => {
  const srv = await receiver([slow(300)])
  const c = client(srv.url)
  c.trackEvent('slowly')
  assert.equal(await c.flush(5), true)
  assert.deepEqual(names(srv), ['slowly'])
  await c.shutdown()
  await srv.close()
})

test('flush honours its timeout against a hung server and reports false; shutdown counts what is lost', async () => {
  const srv = await receiver([hang])
  const c = client(srv.url, { timeout: 30 })
  c.trackEvent('stuck')
  const t0 = Date.now()
  assert.equal(await c.flush(0.3), false)
  assert.ok(Date.now() - t0 < 5000)
  assert.equal(await c.shutdown(0.3), false)
  await srv.close()
})

test('413 splits the batch until the halves fit', async () => {
  // a server that takes at most 2 records a request
  const srv2 = await receiver([
    (req, res, n) => {
      const rec = srv2.requests[n].body.records
      rec.length > 2 ? res.writeHead(413).end() : ok(req, res)
    },
  ])
  const c = client(srv2.url, { batchSize: 100 })
  for (let i = 0; i < 7; i++) c.trackEvent('r' + i)
  assert.equal(await c.flush(5), true)
  const delivered = srv2.requests.filter((r) => r.body.records.length <= 2).flatMap((r) => r.body.records.map((x) => x.name))
  assert.deepEqual(delivered.sort(), ['r0', 'r1', 'r2', 'r3', 'r4', 'r5', 'r6'])
  assert.equal(c.stats().sent, 7)
  assert.ok(c.stats().failures_by_reason.http_413 >= 1)
  await c.shutdown()
  await srv2.close()
})

test('other 4xx are not retried: counted as failed, flush says false', async () => {
  const srv = await receiver([status(400), ok])
  const c = client(srv.url)
  c.trackEvent('refused')
  assert.equal(await c.flush(5), false)
  assert.equal(srv.requests.length, 1)
  const s = c.stats()
  assert.equal(s.failed, 1)
  assert.equal(s.retries, 0)
  c.trackEvent('fine')
  assert.equal(await c.flush(5), true, 'the next flush is clean again')
  await c.shutdown()
  await srv.close()
})

test('the circuit breaker opens after 5 failures, stops sending, then a half-open probe closes it', async () => {
  let healthy = false
  const srv = await receiver([(req, res) => (healthy ? ok(req, res) : status(503)(req, res))])
  const c = client(srv.url, { breakerCooldown: 0.5, flushInterval: 0.05 })
  c.trackEvent('through.the.outage')
  assert.ok(await until(() => c.stats().breaker === 'open'))
  const seen = srv.requests.length
  assert.equal(seen, 5)
  await new Promise((r) => setTimeout(r, 200))
  assert.equal(srv.requests.length, seen, 'nothing is sent while the breaker is open')
  healthy = true
  assert.equal(await c.flush(5), true)
  assert.equal(c.stats().breaker, 'closed')
  assert.deepEqual(names(srv).filter((n) => n), ['through.the.outage'])
  assert.equal(c.stats().backends.http.breaker, 'closed')
  await c.shutdown()
  await srv.close()
})

test('a failed half-open probe re-opens the breaker', async () => {
  const srv = await receiver([status(503)])
  const c = client(srv.url, { breakerCooldown: 0.2, breakerThreshold: 2, flushInterval: 0.05 })
  try {
    c.trackEvent('x')
    // the probe (third request) has reached the server; its answer re-opens the breaker
    assert.ok(await until(() => srv.requests.length >= 3 && c.stats().breaker === 'open'))
  } finally {
    await c.shutdown(0)
    await srv.close()
  }
})

test('the queue is bounded: the oldest records are dropped and counted', async () => {
  const srv = await receiver([ok])
  const c = client(srv.url, { maxQueueSize: 10, batchSize: 1000, flushInterval: 60 })
  for (let i = 0; i < 25; i++) c.trackEvent('q' + i)
  const s = c.stats()
  assert.equal(s.queued, 10)
  assert.equal(s.dropped, 15)
  assert.equal(s.failures_by_reason.queue_full, 15)
  assert.equal(await c.flush(5), false, 'records were lost since the last flush')
  assert.deepEqual(names(srv), Array.from({ length: 10 }, (_, i) => 'q' + (15 + i)).sort())
  await c.shutdown()
  await srv.close()
})

test('batches go out by size without waiting for the interval', async () => {
  const srv = await receiver([ok])
  const c = client(srv.url, { batchSize: 5, flushInterval: 3600 })
  for (let i = 0; i < 10; i++) c.trackEvent('b' + i)
  assert.ok(await until(() => srv.records().length === 10))
  assert.deepEqual(srv.requests.map((r) => r.body.records.length), [5, 5])
  await c.shutdown()
  await srv.close()
})

test('batches go out by interval', async () => {
  const srv = await receiver([ok])
  const c = client(srv.url, { batchSize: 500, flushInterval: 0.05 })
  c.trackEvent('tick')
  assert.ok(await until(() => srv.records().length === 1))
  await c.shutdown()
  await srv.close()
})

test('sampling, beforeSend (change, drop, throw) and the generic JSON document', async () => {
  const srv = await receiver([ok])
  const c = client(srv.url, {
    beforeSend: (r) => {
      if (r.name === 'drop.me') return null
      if (r.name === 'throw') throw new Error('hook bug')
      r.attributes.seen = true
      return r
    },
  })
  c.trackEvent('keep', { a: 1 })
  c.trackEvent('drop.me')
  c.trackEvent('throw')
  c.trackLog('a line', { level: 'error' })
  c.trackMetric('latency', 12, { metricType: 'histogram', unit: 'ms' })
  c.span('work', { n: 1 }, (s) => s.addEvent('step'))
  assert.equal(await c.flush(5), true)
  const doc = srv.requests[0].body
  assert.deepEqual(doc.sdk, { name: 'astrid', version: '0.1.0', language: 'javascript', format: 1 })
  assert.equal(doc.resource['service.name'], 'pipe')
  const by = Object.fromEntries(srv.records().map((r) => [r.name, r]))
  assert.deepEqual(Object.keys(by).sort(), ['keep', 'latency', 'log', 'work'])
  assert.equal(by.keep.attributes.seen, true)
  assert.match(by.keep.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/)
  assert.equal(by.log.severity_text, 'ERROR')
  assert.equal(by.latency.metric_type, 'histogram')
  assert.equal(by.latency.count, 1)
  assert.equal(by.work.events[0].name, 'step')
  const s = c.stats()
  assert.equal(s.filtered, 1)
  assert.equal(s.dropped, 1)
  await c.shutdown()
  await srv.close()

  const srv2 = await receiver([ok])
  const c2 = client(srv2.url, { sampleRate: 0 })
  c2.trackEvent('sampled.out')
  c2.trackLog('logs are always kept')
  assert.equal(await c2.flush(5), true)
  assert.equal(c2.stats().sampled_out, 1)
  assert.deepEqual(names(srv2), ['log'])
  await c2.shutdown()
  await srv2.close()
})

test('two backends: a dead one never holds up a healthy one', async () => {
  const good = await receiver([ok])
  const dead = await receiver([hang])
  const mem = { name: 'mem', records: [], export(b) { this.records.push(...b.records) } }
  const c = new TelemetryClient({ projectName: 'two', backend: ['otlp', mem], endpoint: dead.url, ...fast, timeout: 30, flushInterval: 0.05 })
  c.trackEvent('both')
  assert.ok(await until(() => mem.records.length === 1))
  assert.equal(c.stats().backends.mem.sent, 1)
  assert.equal(c.stats().backends.otlp.sent, 0)
  assert.equal(await c.shutdown(0.3), false)
  await good.close()
  await dead.close()
})

test('the queue and the backlogs share maxQueueSize: a dead backend loses its oldest batches, a healthy one gets every record', async () => {
  const dead = { name: 'dead', export: () => ({ ok: false, retryable: true, reason: 'down' }) }
  const mem = { name: 'mem', records: [], export(b) { this.records.push(...b.records) } }
  const c = new TelemetryClient({ projectName: 'bound', backend: [dead, mem], ...fast, backoffBase: 5, backoffMax: 5, breakerThreshold: 1000, batchSize: 10, maxQueueSize: 50, flushInterval: 0.01 })
  for (let i = 0; i < 400; i++) {
    c.trackEvent('e' + i)
    if (i % 10 === 9) await new Promise((r) => setTimeout(r, 2))
  }
  assert.ok(await until(() => mem.records.length === 400), `${mem.records.length} of 400 reached the healthy backend`)
  const s = c.stats()
  assert.equal(s.max_queue_size, 50)
  assert.ok(s.queue_high_water > 0 && s.queue_high_water <= 50, `high water ${s.queue_high_water}`)
  assert.ok(s.backends.dead.pending <= 50, `dead backlog ${s.backends.dead.pending}`)
  assert.ok(s.backends.dead.dropped >= 300, `dead dropped ${s.backends.dead.dropped}`)
  assert.ok(s.backends.dead.failures_by_reason.queue_full >= 1)
  assert.equal(s.backends.mem.dropped, 0)
  await c.shutdown(0.2)
})

test('stats() before a pipeline exists has the same keys (telemetry off)', () => {
  const on = new TelemetryClient({ projectName: 'k', backend: { name: 'm', export() {} }, ...fast })
  const off = new TelemetryClient({ projectName: 'k', backend: { name: 'm', export() {} }, ...fast, enabled: false })
  assert.deepEqual(Object.keys(off.stats()).sort(), Object.keys(on.stats()).sort())
  assert.equal(off.stats().max_queue_size, 20000)
  on.shutdown(0)
})

test('custom backends: a throwing or rejecting export is retried, never thrown', async () => {
  let n = 0
  const flaky = {
    name: 'flaky',
    got: [],
    async export(b) {
      n++
      if (n === 1) throw new Error('boom')
      if (n === 2) return Promise.reject(new Error('async boom'))
      if (n === 3) return { ok: false, retryable: true, reason: 'busy' }
      this.got.push(...b.records)
      return { ok: true }
    },
    shutdown() {
      throw new Error('shutdown boom')
    },
  }
  const c = new TelemetryClient({ projectName: 'custom', backend: flaky, ...fast })
  c.trackEvent('eventually')
  assert.equal(await c.flush(5), true)
  assert.equal(flaky.got.length, 1)
  assert.deepEqual(c.stats().failures_by_reason, { 'exception:Error': 2, busy: 1 })
  assert.equal(await c.shutdown(), true)
})
