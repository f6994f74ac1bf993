// The records of the shared encoding vectors, sanitized and encoded by the JS SDK, are accepted by a
// real OTLP/HTTP receiver: the OpenTelemetry Collector ($ASTRID_TEST_OTELCOL) and the Python
// inspector (`astrid inspect`), each started on a loopback port for this test.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { build } from 'esbuild'

const here = new URL('.', import.meta.url)
const DATA = JSON.parse(readFileSync(new URL('../../tests/vectors/encoding.json', here), 'utf8'))
const r = await build({
  stdin: {
    contents: `export * from './encoding/index'
      export { createPrivacyEngine } from './privacy/index'
      export { signalOf } from './backends/otlp'
      export { severityText } from './records'`,
    resolveDir: new URL('../src/', here).pathname,
    loader: 'ts',
  },
  bundle: true, format: 'esm', platform: 'node', define: { __NODE__: 'true' }, write: false, logLevel: 'error', external: ['node:*'],
})
const M = await import('data:text/javascript;base64,' + Buffer.from(r.outputFiles[0].contents).toString('base64'))
const ENCODERS = { traces: M.encodeTraces, metrics: M.encodeMetrics, logs: M.encodeLogs }

const toRecord = (d) => {
  const o = {}
  for (const [k, v] of Object.entries(d)) o[k.replace(/_ns$/, '').replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = k === 'events' ? v.map(toRecord) : v
  if (o.severityNumber) o.severityText = M.severityText(o.severityNumber)
  return o
}

/** Every case's records, through the privacy engine, as request bodies: [signal, JSON text, record count]. */
const bodies = async () => {
  const engine = M.createPrivacyEngine({ projectName: 'receiver-test' })
  const out = []
  for (const c of DATA.cases) {
    const recs = await engine.sanitizeBatch(c.records.map(toRecord))
    assert.equal(recs.length, c.records.length)
    const by = {}
    for (const rec of recs) (by[M.signalOf(rec.type, c.events_as)] ||= []).push(rec)
    for (const [sig, rs] of Object.entries(by)) out.push([sig, JSON.stringify(ENCODERS[sig](rs, DATA.resource)), rs.length])
  }
  return out
}

const freePort = () =>
  new Promise((res) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => res(port))
    })
  })
const waitPort = async (port, proc, ms = 30000) => {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (proc.exitCode !== null) return false
    const ok = await new Promise((res) => {
      const c = connect(port, '127.0.0.1', () => (c.destroy(), res(true)))
      c.on('error', () => res(false))
    })
    if (ok) return true
    await new Promise((res) => setTimeout(res, 100))
  }
  return false
}

/** Start argv on a loopback port, run fn(url, output), stop the process (ours) however fn ends. */
const withReceiver = async (argv, port, dir, fn) => {
  const log = join(dir, 'output.log')
  writeFileSync(log, '')
  const { openSync } = await import('node:fs')
  const fd = openSync(log, 'a')
  const proc = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], cwd: dir })
  try {
    assert.ok(await waitPort(port, proc), `${argv[0]} did not listen:\n${readFileSync(log, 'utf8').slice(-2000)}`)
    await fn(`http://127.0.0.1:${port}`, () => readFileSync(log, 'utf8'))
  } finally {
    proc.kill('SIGTERM')
    await new Promise((res) => (proc.exitCode !== null ? res() : proc.once('exit', res)))
  }
}

const post = async (url, body) => {
  const res = await fetch(url, { method: 'POST', body, headers: { 'Content-Type': 'application/json' }, signal: AbortSignal.timeout(10000) })
  const text = await res.text()
  assert.equal(res.status, 200, `${url}: ${res.status} ${text}`)
  const partial = text ? JSON.parse(text).partialSuccess || {} : {}
  assert.ok(!partial.rejectedSpans && !partial.rejectedDataPoints && !partial.rejectedLogRecords, `${url}: ${text}`)
}

const OTELCOL = process.env.ASTRID_TEST_OTELCOL
test('the OpenTelemetry Collector accepts the JS encoder output', { skip: !OTELCOL && 'ASTRID_TEST_OTELCOL is not set (scripts/test sets it)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'astrid-js-otelcol-'))
  const port = await freePort()
  writeFileSync(join(dir, 'config.yaml'), `receivers:
  otlp:
    protocols:
      http:
        endpoint: 127.0.0.1:${port}
exporters:
  debug:
    verbosity: detailed
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces: {receivers: [otlp], exporters: [debug]}
    metrics: {receivers: [otlp], exporters: [debug]}
    logs: {receivers: [otlp], exporters: [debug]}
`)
  try {
    await withReceiver([OTELCOL, '--config', join(dir, 'config.yaml')], port, dir, async (url, output) => {
      for (const [sig, body] of await bodies()) await post(`${url}/v1/${sig}`, body)
      // the debug exporter prints what it decoded
      const end = Date.now() + 10000
      while (!/checkout[\s\S]*http\.duration[\s\S]*|http\.duration[\s\S]*checkout/.test(output()) && Date.now() < end) await new Promise((res) => setTimeout(res, 100))
      const out = output()
      for (const name of ['user.signup', 'checkout', 'jobs.done', 'http.duration', 'cache warmed', 'payment declined']) assert.ok(out.includes(name), `${name} not in the collector's output`)
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

const ASTRID = new URL('../../.venv/bin/astrid', here).pathname
test('the Python inspector accepts and stores the JS encoder output', { skip: !existsSync(ASTRID) && 'no .venv/bin/astrid (scripts/test creates it)' }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'astrid-js-inspect-'))
  const port = await freePort()
  try {
    await withReceiver([ASTRID, 'inspect', '--port', String(port), '--db', join(dir, 'records.db')], port, dir, async (url) => {
      let sent = 0
      for (const [sig, body, n] of await bodies()) {
        await post(`${url}/v1/${sig}`, body)
        sent += n
      }
      const got = await (await fetch(`${url}/api/records?limit=5000`)).json()
      const names = new Set(got.records.map((x) => x.name))
      for (const name of ['user.signup', 'cart.add', 'checkout', 'root', 'jobs.done', 'http.duration', 'ValueError']) assert.ok(names.has(name), `${name} not stored: ${[...names]}`)
      // the inspector keeps one row per record it could decode (it folds repeats of an id)
      assert.ok(got.records.length > 0 && got.records.length <= sent, `stored ${got.records.length} of ${sent}`)
      assert.deepEqual(new Set(got.records.map((x) => x.type)), new Set(['event', 'span', 'metric', 'log', 'error']))
      assert.ok(got.records.every((x) => x.resource['service.name'] === 'vector-app' && x.scope.name === 'astrid'))
    })
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
