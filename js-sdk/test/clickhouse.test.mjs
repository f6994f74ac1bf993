// ClickHouse: the same DDL as the Python SDK, and rows accepted by a real clickhouse-server on loopback.
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { after, before, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { TelemetryClient } from '../dist/astrid.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..')
const python = join(repo, '.venv', 'bin', 'python')

const schemaModule = async () => {
  const r = await build({ entryPoints: [join(here, '..', 'src', 'backends', 'clickhouse_schema.ts')], bundle: true, write: false, format: 'esm', platform: 'node' })
  return import('data:text/javascript;base64,' + Buffer.from(r.outputFiles[0].text).toString('base64'))
}

test('the DDL is the Python SDK\'s, statement for statement', { skip: !existsSync(python) && 'the Python venv (.venv, made by scripts/test) is not there' }, async () => {
  const { schemaDdl } = await schemaModule()
  const py = JSON.parse(
    execFileSync(python, ['-c', `
import json
from astrid.backends.clickhouse_schema import schema_ddl
out = {}
for s in ('otel', 'events'):
    for v in (None, (24, 8), (22, 1), (21, 1), (19, 1), (18, 16)):
        for db in ('default', 'analytics'):
            for ttl in (None, 30):
                try:
                    out['%s|%s|%s|%s' % (s, list(v) if v else None, db, ttl)] = schema_ddl(s, db, 'app_', ttl, v)
                except ValueError:
                    out['%s|%s|%s|%s' % (s, list(v) if v else None, db, ttl)] = 'error'
print(json.dumps(out))
`], { encoding: 'utf8' }),
  )
  let n = 0
  for (const [key, want] of Object.entries(py)) {
    const [s, v, db, ttl] = key.split('|')
    let got
    try {
      got = schemaDdl(s, db, 'app_', ttl === 'None' ? undefined : +ttl, v === 'None' ? undefined : JSON.parse(v))
    } catch {
      got = 'error'
    }
    assert.deepEqual(got, want, key)
    n++
  }
  assert.equal(n, 48)
})

// ------------------------------------------------------------------ a real server (as tests/support/clickhouse.py starts one)

const findServer = () => {
  for (const p of [process.env.ASTRID_TEST_CLICKHOUSE, '/usr/sbin/clickhouse-server', '/usr/bin/clickhouse-server']) {
    try {
      if (p) {
        accessSync(p, constants.X_OK)
        return basename(p) === 'clickhouse' ? [p, 'server'] : [p]
      }
    } catch {}
  }
}
const command = findServer()
const freePort = () => new Promise((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = s.address().port; s.close(() => r(p)) }) })
let server

before(async () => {
  if (!command) return
  const dir = mkdtempSync(join(tmpdir(), 'astrid-ch-js-'))
  for (const d of ['data', 'tmp', 'log', 'user_files', 'format_schemas']) mkdirSync(join(dir, d))
  const [http, tcp] = [await freePort(), await freePort()]
  const user = (name, pw) => `<${name}><password>${pw}</password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></${name}>`
  writeFileSync(join(dir, 'config.xml'), `<?xml version="1.0"?><yandex><logger><level>warning</level><log>${dir}/log/server.log</log><errorlog>${dir}/log/err.log</errorlog></logger>
<listen_host>127.0.0.1</listen_host><http_port>${http}</http_port><tcp_port>${tcp}</tcp_port><path>${dir}/data/</path><tmp_path>${dir}/tmp/</tmp_path>
<user_files_path>${dir}/user_files/</user_files_path><format_schema_path>${dir}/format_schemas/</format_schema_path><users_config>users.xml</users_config>
<default_profile>default</default_profile><default_database>default</default_database><timezone>UTC</timezone><mark_cache_size>67108864</mark_cache_size>
<uncompressed_cache_size>67108864</uncompressed_cache_size><mlock_executable>false</mlock_executable></yandex>`)
  writeFileSync(join(dir, 'users.xml'), `<?xml version="1.0"?><yandex><profiles><default><max_memory_usage>2000000000</max_memory_usage></default></profiles>
<users>${user('default', '')}${user('writer', 's3cret')}</users><quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors>
<result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas></yandex>`)
  const proc = spawn(command[0], [...command.slice(1), `--config-file=${join(dir, 'config.xml')}`], { cwd: dir, stdio: 'ignore', detached: true })
  const url = `http://127.0.0.1:${http}`
  const query = async (sql) => {
    const r = await fetch(url + '/', { method: 'POST', body: sql })
    const t = await r.text()
    if (!r.ok) throw new Error(t)
    return t
  }
  const end = Date.now() + 30000
  while (Date.now() < end) {
    try {
      if ((await (await fetch(url + '/ping')).text()).trim() === 'Ok.') break
    } catch {}
    await new Promise((r) => setTimeout(r, 100))
  }
  server = { url, query, proc, dir }
})

after(() => {
  if (!server) return
  try {
    process.kill(-server.proc.pid, 'SIGTERM')
  } catch {}
  rmSync(server.dir, { recursive: true, force: true })
})

const skip = !command && 'no clickhouse-server (set ASTRID_TEST_CLICKHOUSE; scripts/test installs it)'

for (const schema of ['otel', 'events']) {
  test(`a real clickhouse-server takes every record type (${schema} schema)`, { skip }, async (t) => {
    const [major, minor] = (await server.query('SELECT version()')).trim().split('.').map(Number)
    if (schema === 'otel' && (major < 21 || (major === 21 && minor < 12))) {
      // the otel tables need Map columns (ClickHouse 21.12+); the events schema is the portable one
      return t.skip(`clickhouse-server ${major}.${minor} is older than 21.12, which the otel schema needs`)
    }
    const db = 'js_' + schema
    const c = new TelemetryClient({ projectName: 'ch-app', version: '1.0.0', enabled: true, env: {}, installAtexit: false, backend: 'clickhouse', endpoint: server.url, username: 'writer', password: 's3cret', database: db, schema, tablePrefix: 'astrid_' })
    c.trackEvent('signup', { plan: 'pro', n: 3, ok: true, tags: ['a', 'b'] })
    await c.span('checkout', { items: 2 }, async (s) => {
      s.addEvent('paid', { amount: 9.5 })
      c.trackLog('inside the span', { level: 'warning' })
    })
    c.trackError(new RangeError('bad range'), { where: 'test' })
    c.trackMetric('jobs', 2)
    c.trackMetric('jobs', 3)
    c.trackMetric('temp', 21.5, { metricType: 'gauge', unit: 'Cel' })
    c.trackMetric('latency', 12, { metricType: 'histogram', unit: 'ms' })
    assert.equal(await c.flush(20), true, JSON.stringify(c.stats()))
    if (schema === 'otel') {
      const spans = (await server.query(`SELECT SpanName, ServiceName, SpanAttributes['plan'], toUnixTimestamp(Timestamp) > 1600000000 FROM ${db}.astrid_otel_traces ORDER BY SpanName FORMAT TSV`)).trim().split('\n')
      assert.deepEqual(spans, ['checkout\tch-app\t\t1', 'signup\tch-app\tpro\t1'])
      const logs = (await server.query(`SELECT SeverityText, Body, LogAttributes['exception.type'] FROM ${db}.astrid_otel_logs ORDER BY SeverityNumber FORMAT TSV`)).trim().split('\n')
      assert.deepEqual(logs, ['WARN\tinside the span\t', 'ERROR\tRangeError: bad range\tRangeError'])
      assert.equal((await server.query(`SELECT Value FROM ${db}.astrid_otel_metrics_sum`)).trim(), '5')
      assert.equal((await server.query(`SELECT Value, MetricUnit FROM ${db}.astrid_otel_metrics_gauge FORMAT TSV`)).trim(), '21.5\tCel')
      assert.equal((await server.query(`SELECT Count, Sum FROM ${db}.astrid_otel_metrics_histogram FORMAT TSV`)).trim(), '1\t12')
    } else {
      const rows = (await server.query(`SELECT type, name FROM ${db}.astrid_events ORDER BY type, name FORMAT TSV`)).trim().split('\n')
      assert.deepEqual(rows, ['error\tRangeError', 'event\tsignup', 'log\tlog', 'metric\tjobs', 'metric\tlatency', 'metric\ttemp', 'span\tcheckout'])
    }
    assert.equal(await c.shutdown(), true)
  })
}

test('a wrong password is a permanent failure, counted, not retried', { skip }, async () => {
  const c = new TelemetryClient({ projectName: 'ch-app', enabled: true, env: {}, installAtexit: false, backend: 'clickhouse', endpoint: server.url, username: 'writer', password: 'wrong' })
  c.trackEvent('x')
  assert.equal(await c.flush(10), false)
  const s = c.stats()
  assert.equal(s.retries, 0)
  assert.ok(Object.keys(s.failures_by_reason).some((k) => /^clickhouse_(516|192|193)$/.test(k)), JSON.stringify(s.failures_by_reason))
  await c.shutdown()
})
