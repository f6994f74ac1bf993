// Hostile input (fast-check): no public method throws into the caller, nothing rejects unhandled.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import * as A from '../dist/astrid.mjs'

const anything = fc.oneof(
  fc.anything({ withBigInt: true, withDate: true, withMap: true, withSet: true, withTypedArray: true, withSparseArray: true, withNullPrototype: true, withBoxedValues: true }),
  fc.string({ unit: 'binary' }),
  fc.constantFrom(NaN, Infinity, -Infinity, -0, Symbol('s'), () => 1, new Proxy({}, { get(t, k) { if (typeof k !== 'symbol' && k !== 'then') throw new Error('trap') }, ownKeys() { throw new Error('trap') } })),
)
const rejections = []
process.on('unhandledRejection', (e) => rejections.push(e))

const mem = { name: 'mem', records: [], export(b) { this.records.push(...b.records) } }
const client = new A.TelemetryClient({ projectName: 'hostile', enabled: true, backend: mem, env: {}, installAtexit: false, flushInterval: 0.01 })
A.init({ projectName: 'hostile-default', enabled: true, backend: 'memory', env: {}, installAtexit: false })

test('every tracking method accepts anything without throwing', () => {
  fc.assert(
    fc.property(anything, anything, anything, anything, (a, b, c, d) => {
      for (const t of [client, A]) {
        t.trackEvent(a, b)
        t.trackMetric(a, b, c)
        t.trackMetric(a, 1, { metricType: c, unit: d, attributes: b })
        t.trackLog(a, b)
        t.trackLog(a, { level: c, attributes: d })
        t.trackError(a, b)
        const s = t.startSpan(a, b)
        if (s) s.setAttribute(a, b).setAttributes(c).addEvent(a, d).setStatus(c, d).recordException(a).end()
        if (s) s.setAttribute('after', 'end')
        t.stats()
      }
    }),
    { numRuns: 300 },
  )
})

test('span() passes the user function its own result and its own errors only', () => {
  fc.assert(
    fc.property(anything, anything, anything, (name, attrs, value) => {
      assert.equal(client.span(name, attrs, () => value), value)
      const e = new Error('mine')
      assert.throws(() => client.span(name, attrs, () => { throw e }), (x) => x === e)
    }),
    { numRuns: 200 },
  )
})

test('flush, shutdown and consent calls never reject or throw, whatever their arguments', async () => {
  await fc.assert(
    fc.asyncProperty(anything, async (t) => {
      assert.equal(typeof (await client.flush(typeof t === 'number' ? Math.min(Math.abs(t), 0.05) : t === undefined ? 0.05 : t)), 'boolean')
    }),
    { numRuns: 50 },
  )
  // the records that made it out are well-formed: ids, names, attributes
  assert.equal(await client.flush(5), true)
  for (const r of mem.records) {
    assert.match(r.id, /^[0-9a-f]{32}$/)
    assert.equal(typeof r.name, 'string')
    assert.equal(typeof r.attributes, 'object')
  }
  assert.ok(mem.records.length > 100)
  for (const x of [client, A]) {
    x.optOut()
    x.optIn()
  }
  assert.equal(typeof (await client.shutdown('nonsense')), 'boolean')
  assert.equal(typeof (await A.shutdown(-5)), 'boolean')
  await new Promise((r) => setTimeout(r, 50))
  assert.deepEqual(rejections, [])
})

test('bad constructor options throw a TypeError or RangeError that names the option', () => {
  const cases = [
    [undefined, /options/], [{}, /projectName/], [{ projectName: '' }, /projectName/], [{ projectName: 'x', batchSize: 0 }, /batchSize/],
    [{ projectName: 'x', batchSize: 1.5 }, /batchSize/], [{ projectName: 'x', sampleRate: 2 }, /sampleRate/], [{ projectName: 'x', compression: 'br' }, /compression/],
    [{ projectName: 'x', eventsAs: 'x' }, /eventsAs/], [{ projectName: 'x', backend: 'nope' }, /backend/], [{ projectName: 'x', enabled: 'yes' }, /enabled/],
    [{ projectName: 'x', nonsense: 1 }, /nonsense/], [{ projectName: 'x', endpoint: 'ftp://x', enabled: true }, /endpoint/],
    [{ projectName: 'x', endpoint: 'http://collector.example', enabled: true }, /allowInsecure/], [{ projectName: 'x', beforeSend: 1 }, /beforeSend/],
    [{ projectName: 'x', headers: { a: 1 } }, /headers/],
  ]
  for (const [o, re] of cases) assert.throws(() => new A.TelemetryClient(o), (e) => (e instanceof TypeError || e instanceof RangeError) && re.test(e.message), JSON.stringify(o))
})

test('an end user environment never makes the constructor throw', () => {
  fc.assert(
    fc.property(fc.dictionary(fc.constantFrom('ASTRID_BATCH_SIZE', 'ASTRID_TIMEOUT', 'ASTRID_COMPRESSION', 'ASTRID_HEADERS', 'ASTRID_EVENTS_AS', 'ASTRID_SAMPLE_RATE', 'ASTRID_DEBUG', 'OTEL_RESOURCE_ATTRIBUTES', 'DO_NOT_TRACK', 'CI', 'OTEL_SERVICE_NAME', 'ASTRID_ALLOW_INSECURE'), fc.string({ unit: 'binary' })), (env) => {
      const c = new A.TelemetryClient({ projectName: 'env', backend: 'memory', env, installAtexit: false })
      c.trackEvent('x')
      c.shutdown(0)
    }),
    { numRuns: 300 },
  )
})
