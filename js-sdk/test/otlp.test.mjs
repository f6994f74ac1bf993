// The otlp backend end to end: paths, gzip, OTEL_* variables, partial success, partial delivery,
// and a real receiver (the OpenTelemetry Collector, the Python inspector) taking what the client sends.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { TelemetryClient } from '../dist/astrid.mjs'
import { ok, receiver, status } from './support/server.mjs'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const base = { projectName: 'otlp-app', version: '3.1.0', enabled: true, installAtexit: false, backoffBase: 0.01, backoffMax: 0.05 }
const track = (c) => {
  for (let i = 0; i < 30; i++) c.trackEvent('user.signup', { plan: 'pro', i })
  c.span('checkout', { items: 2 }, (s) => s.addEvent('paid'))
  c.trackLog('cache warmed', { level: 'info' })
  c.trackError(new Error('payment declined'))
  c.trackMetric('jobs.done', 2)
}

test('signals go to /v1/traces, /v1/metrics, /v1/logs, gzipped, with OTEL_EXPORTER_OTLP_* honoured', async () => {
  const srv = await receiver([ok])
  const logs = await receiver([ok])
  const env = { OTEL_EXPORTER_OTLP_ENDPOINT: srv.url, OTEL_EXPORTER_OTLP_HEADERS: 'api-key=abc%20123', OTEL_EXPORTER_OTLP_LOGS_ENDPOINT: logs.url + '/custom/logs', OTEL_SERVICE_NAME: 'from-env', OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=test' }
  const c = new TelemetryClient({ ...base, backend: 'otlp', env })
  track(c)
  assert.equal(await c.flush(5), true)
  assert.deepEqual(srv.requests.map((r) => r.path).sort(), ['/v1/metrics', '/v1/traces'])
  assert.deepEqual(logs.requests.map((r) => r.path), ['/custom/logs'])
  const traces = srv.requests.find((r) => r.path === '/v1/traces')
  assert.equal(traces.headers['content-encoding'], 'gzip')
  assert.equal(traces.headers['api-key'], 'abc 123')
  assert.equal(traces.headers['content-type'], 'application/json')
  const res = Object.fromEntries(traces.body.resourceSpans[0].resource.attributes.map((a) => [a.key, Object.values(a.value)[0]]))
  assert.equal(res['service.name'], 'from-env')
  assert.equal(res['service.version'], '3.1.0')
  assert.equal(res['deployment.environment'], 'test')
  assert.equal(res['telemetry.sdk.language'], 'nodejs')
  assert.equal(traces.body.resourceSpans[0].scopeSpans[0].spans.length, 31)
  await c.shutdown()
  await srv.close()
  await logs.close()
})

test('eventsAs: "logs" sends events as log records', async () => {
  const srv = await receiver([ok])
  const c = new TelemetryClient({ ...base, backend: 'otlp', endpoint: srv.url, eventsAs: 'logs', env: {} })
  c.trackEvent('as.a.log')
  assert.equal(await c.flush(5), true)
  assert.deepEqual(srv.requests.map((r) => r.path), ['/v1/logs'])
  await c.shutdown()
  await srv.close()
})

test('a signal that fails is retried alone; partialSuccess rejections are counted', async () => {
  let logTries = 0
  const srv = await receiver([
    (req, res) => {
      if (req.url === '/v1/logs' && ++logTries === 1) return status(503)(req, res)
      if (req.url === '/v1/metrics') return res.writeHead(200, { 'content-type': 'application/json' }).end('{"partialSuccess":{"rejectedDataPoints":"1","errorMessage":"no"}}')
      ok(req, res)
    },
  ])
  const c = new TelemetryClient({ ...base, backend: 'otlp', endpoint: srv.url, env: {}, compression: 'none' })
  track(c)
  assert.equal(await c.flush(5), false, 'a rejected point is a loss')
  const paths = srv.requests.map((r) => r.path)
  assert.equal(paths.filter((p) => p === '/v1/traces').length, 1, 'traces were not sent twice')
  assert.equal(paths.filter((p) => p === '/v1/logs').length, 2)
  const s = c.stats()
  assert.equal(s.rejected, 1)
  assert.equal(s.sent, 31 + 2 + 1 - 1)
  await c.shutdown()
  await srv.close()
})

// ------------------------------------------------------------------ real receivers

const freePort = () => new Promise((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)) }) })
const waitPort = async (port, proc) => {
  for (const end = Date.now() + 30000; Date.now() < end && proc.exitCode === null; await new Promise((r) => setTimeout(r, 100))) {
    if (await new Promise((r) => { const c = connect(port, '127.0.0.1', () => (c.destroy(), r(true))); c.on('error', () => r(false)) })) return true
  }
  return false
}
const run = async (argv, dir, port, fn) => {
  const log = join(dir, 'out.log')
  writeFileSync(log, '')
  const fd = openSync(log, 'a')
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], cwd: dir })
  try {
    assert.ok(await waitPort(port, proc), readFileSync(log, 'utf8').slice(-1500))
    await fn(`http://127.0.0.1:${port}`, () => readFileSync(log, 'utf8'))
  } finally {
    proc.kill('SIGTERM')
    await new Promise((r) => (proc.exitCode !== null ? r() : proc.once('exit', r)))
  }
}

const OTELCOL = process.env.ASTRID_TEST_OTELCOL
test('the OpenTelemetry Collector takes what the client sends (gzip, all signals)', { skip: !OTELCOL && 'ASTRID_TEST_OTELCOL is not set (scripts/test sets it)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'astrid-js-col-'))
  const port = await freePort()
  writeFileSync(join(dir, 'config.yaml'), `receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:${port}\nexporters:\n  debug:\n    verbosity: detailed\nservice:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n    traces: {receivers: [otlp], exporters: [debug]}\n    metrics: {receivers: [otlp], exporters: [debug]}\n    logs: {receivers: [otlp], exporters: [debug]}\n`)
  try {
    await run([OTELCOL, '--config', join(dir, 'config.yaml')], dir, port, async (url, output) => {
      const c = new TelemetryClient({ ...base, backend: 'otlp', endpoint: url, env: {} })
      track(c)
      assert.equal(await c.flush(10), true, JSON.stringify(c.stats()))
      assert.equal(c.stats().rejected, 0)
      for (const end = Date.now() + 10000; !/payment declined/.test(output()) && Date.now() < end; ) await new Promise((r) => setTimeout(r, 100))
      for (const name of ['user.signup', 'checkout', 'cache warmed', 'payment declined', 'jobs.done']) assert.ok(output().includes(name), name)
      await c.shutdown()
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

const ASTRID = join(repo, '.venv', 'bin', 'astrid')
test('the Python inspector stores every record the client sends', { skip: !existsSync(ASTRID) && 'no .venv/bin/astrid (scripts/test creates it)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'astrid-js-insp-'))
  const port = await freePort()
  try {
    await run([ASTRID, 'inspect', '--port', String(port), '--db', join(dir, 'r.db')], dir, port, async (url) => {
      const c = new TelemetryClient({ ...base, backend: 'otlp', endpoint: url, env: {} })
      track(c)
      assert.equal(await c.flush(10), true)
      const got = (await (await fetch(`${url}/api/records?limit=1000`)).json()).records
      assert.equal(got.filter((r) => r.name === 'user.signup').length, 30)
      assert.deepEqual(new Set(got.map((r) => r.type)), new Set(['event', 'span', 'metric', 'log', 'error']))
      await c.shutdown()
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('resource attributes pass the privacy engine (OTEL_RESOURCE_ATTRIBUTES and resourceAttributes), as in Python', async () => {
  const srv = await receiver([ok])
  try {
    const env = { OTEL_RESOURCE_ATTRIBUTES: 'owner=ada%40example.com,deployment.environment=prod' }
    const c = new TelemetryClient({ ...base, backend: 'otlp', endpoint: srv.url, env, resourceAttributes: { 'api.token': 'tok-SECRET', 'host.note': 'ssh ada@example.org' } })
    c.trackEvent('e')
    assert.equal(await c.flush(5), true)
    await c.shutdown()
    const raw = JSON.stringify(srv.requests.map((r) => r.body))
    assert.ok(raw.includes('deployment.environment'))
    for (const secret of ['ada@example.com', 'ada@example.org', 'tok-SECRET']) assert.ok(!raw.includes(secret), secret)
  } finally {
    await srv.close()
  }
})
