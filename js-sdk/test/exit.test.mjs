// Process life in child processes: delivery at exit without shutdown(), bounded exit with a hung
// endpoint, timers that never hold the process, no unhandled rejection, CommonJS.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { hang, ok, receiver, reset, status } from './support/server.mjs'

const dist = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist')
const guard = `
process.on('unhandledRejection', (e) => { console.log('UNHANDLED ' + (e && e.message)); process.exitCode = 3 })
process.on('uncaughtException', (e) => { console.log('UNCAUGHT ' + (e && e.message)); process.exitCode = 4 })
`

/** run `body` as an ES module; resolves {code, out, last (ms of its last work), exit (ms)} */
const child = (body, env = {}) =>
  new Promise((resolve) => {
    const p = spawn(process.execPath, ['--input-type=module', '-e', guard + `const A = await import(${JSON.stringify(join(dist, 'astrid.mjs'))});\n` + body + `\nconsole.log('LAST ' + Date.now())`], {
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
    })
    let out = ''
    p.stdout.on('data', (c) => (out += c))
    p.stderr.on('data', (c) => (out += c))
    p.on('exit', (code) => {
      const m = /LAST (\d+)/.exec(out)
      resolve({ code, out, after: m ? Date.now() - +m[1] : NaN })
    })
  })

test('a script that never calls shutdown() still delivers, and exits promptly (healthy endpoint)', async () => {
  const srv = await receiver([ok])
  const r = await child(`
const c = new A.TelemetryClient({ projectName: 'cli', enabled: true, backend: 'otlp', endpoint: '${srv.url}', flushInterval: 30 })
for (let i = 0; i < 50; i++) c.trackEvent('cmd.run', { i })
c.trackLog('done')
c.trackMetric('runs', 1)
`)
  assert.equal(r.code, 0, r.out)
  assert.doesNotMatch(r.out, /UNHANDLED|UNCAUGHT/)
  assert.ok(r.after <= 2000, `exited ${r.after} ms after its last work`)
  const paths = srv.requests.map((q) => q.path).sort()
  assert.deepEqual(paths, ['/v1/logs', '/v1/metrics', '/v1/traces'])
  await srv.close()
})

test('a hung endpoint delays exit by at most shutdownTimeout + 1 s', async () => {
  const srv = await receiver([hang])
  const r = await child(`
const c = new A.TelemetryClient({ projectName: 'cli', enabled: true, backend: 'otlp', endpoint: '${srv.url}', shutdownTimeout: 1, timeout: 30 })
c.trackEvent('cmd.run')
`)
  assert.equal(r.code, 0, r.out)
  assert.ok(r.after <= 2000, `exited ${r.after} ms after its last work`)
  assert.ok(srv.requests.length >= 1)
  await srv.close()
})

test('an interval export in flight to a hung endpoint does not hold the process past shutdownTimeout + 1 s', async () => {
  const srv = await receiver([hang])
  const r = await child(`
const c = new A.TelemetryClient({ projectName: 'cli', enabled: true, backend: 'otlp', endpoint: '${srv.url}', shutdownTimeout: 1, timeout: 30, flushInterval: 0.05 })
c.trackEvent('cmd.run')
await new Promise((r) => setTimeout(r, 300))
`)
  assert.equal(r.code, 0, r.out)
  assert.ok(r.after <= 2000, `exited ${r.after} ms after its last work`)
  await srv.close()
})

test('a client with nothing to send never keeps the process alive; nor does a disabled one', async () => {
  const r = await child(`
const a = new A.TelemetryClient({ projectName: 'idle', enabled: true, backend: 'otlp', flushInterval: 3600 })
const b = new A.TelemetryClient({ projectName: 'off', enabled: false })
b.trackEvent('nothing')
A.init({ projectName: 'mod', enabled: true, backend: 'memory' })
`)
  assert.equal(r.code, 0, r.out)
  assert.ok(r.after <= 2000, `exited ${r.after} ms after its last work`)
})

test('nothing reaches the caller as an exception or an unhandled rejection, whatever the endpoint does', async () => {
  const dead = await receiver([reset])
  const bad = await receiver([status(500)])
  const r = await child(`
const backends = [{ name: 'throws', export() { throw new Error('x') }, shutdown() { throw new Error('y') } },
  { name: 'rejects', export: () => Promise.reject(new Error('z')), shutdown: () => Promise.reject(new Error('w')) }, 'otlp', 'console']
const c = new A.TelemetryClient({ projectName: 'chaos', enabled: true, backend: backends, endpoint: '${dead.url}', flushInterval: 0.01, backoffBase: 0.01, shutdownTimeout: 1,
  beforeSend: (r) => { if (r.name === 'boom') throw new Error('hook'); return r } })
const h = new A.TelemetryClient({ projectName: 'chaos2', enabled: true, backend: 'http', endpoint: '${bad.url}/x', signingSecret: 's3cret', flushInterval: 0.01, backoffBase: 0.01, shutdownTimeout: 1 })
const circular = {}; circular.self = circular
for (const x of [c, h]) {
  x.trackEvent('boom'); x.trackEvent('ok', circular); x.trackEvent(null); x.trackEvent('big', { n: 10n })
  x.trackMetric('m', NaN); x.trackMetric('m', 'x'); x.trackLog(Symbol('s')); x.trackError(null); x.trackError('plain string')
  x.trackError({ toString() { throw new Error('evil') } })
  try { x.span('thrower', () => { throw new Error('user') }) } catch (e) { if (e.message !== 'user') throw e }
  await x.span('async', async () => { await null }).catch(() => {})
  x.startSpan('s').end(); x.stats(); x.flush(-1); x.flush('x'); x.optIn(); x.optOut()
}
await new Promise((r) => setTimeout(r, 300))
await c.shutdown(0.5); await h.shutdown(0.5); await c.shutdown(); await c.flush()
`)
  assert.doesNotMatch(r.out, /UNHANDLED|UNCAUGHT/)
  assert.equal(r.code, 0, r.out)
  assert.ok(bad.requests.length >= 1 && /^t=\d+,v1=[0-9a-f]{64}$/.test(bad.requests[0].headers['x-astrid-signature']))
  await dead.close()
  await bad.close()
})

test('the CommonJS build works with require()', async () => {
  const p = spawn(process.execPath, ['-e', `const A = require(${JSON.stringify(join(dist, 'astrid.cjs'))}); const c = A.init({ projectName: 'cjs', enabled: true, backend: 'memory' }); c.trackEvent('x'); c.flush().then((ok) => console.log(ok, typeof A.TelemetryClient))`])
  let out = ''
  p.stdout.on('data', (c) => (out += c))
  const code = await new Promise((r) => p.on('exit', r))
  assert.equal(code, 0)
  assert.equal(out.trim(), 'true function')
})
