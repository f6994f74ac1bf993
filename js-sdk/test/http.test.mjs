// The generic HTTP backend: documents valid against docs/http-format.schema.json, signatures the Python SDK verifies.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { TelemetryClient } from '../dist/astrid.mjs'
import { ok, receiver } from './support/server.mjs'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const python = join(repo, '.venv', 'bin', 'python')
const skip = !existsSync(python) && 'the Python venv (.venv, made by scripts/test) is not there'

test('documents follow docs/http-format.schema.json and their signatures verify with astrid.verify_signature', { skip }, async () => {
  const srv = await receiver([ok])
  const c = new TelemetryClient({ projectName: 'http-app', version: '2.0.0', enabled: true, env: {}, installAtexit: false, backend: 'http', endpoint: srv.url + '/collect', signingSecret: 'top-secret', compression: 'gzip' })
  for (let i = 0; i < 20; i++) c.trackEvent('event.' + i, { i, ok: i % 2 === 0, tags: ['a', 'b'], ratio: i / 3 })
  await c.span('outer', { n: 1 }, async (s) => {
    s.addEvent('step', { k: 'v' })
    c.trackEvent('nested')
    c.trackLog('inside', { level: 'debug' })
  })
  c.trackError(new TypeError('bad type'), { where: 'test' })
  c.trackMetric('count', 3)
  c.trackMetric('gauge', 1.5, { metricType: 'gauge', unit: 'ms' })
  c.trackMetric('hist', 7, { metricType: 'histogram' })
  assert.equal(await c.flush(5), true)
  assert.ok(srv.requests.every((r) => r.headers['content-encoding'] === 'gzip'), 'bodies over 1 KB go gzipped')
  assert.ok(srv.requests.every((r) => /^astrid-js\/\d+\.\d+\.\d+/.test(r.headers['user-agent'])), 'Node names itself as Python does (astrid-python/…)')
  const dir = mkdtempSync(join(tmpdir(), 'astrid-http-'))
  try {
    srv.requests.forEach((r, i) => {
      writeFileSync(join(dir, i + '.body'), r.raw)
      writeFileSync(join(dir, i + '.json'), JSON.stringify(r.body))
      writeFileSync(join(dir, i + '.sig'), r.headers['x-astrid-signature'])
    })
    const out = execFileSync(python, ['-c', `
import json, sys, glob, os
import jsonschema
import astrid
schema = json.load(open(sys.argv[1]))
d = sys.argv[2]
n = 0
for f in sorted(glob.glob(os.path.join(d, '*.json'))):
    base = f[:-5]
    doc = json.load(open(f))
    jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())
    assert astrid.verify_signature('top-secret', open(base + '.body', 'rb').read(), open(base + '.sig').read()), base
    assert not astrid.verify_signature('wrong', open(base + '.body', 'rb').read(), open(base + '.sig').read())
    n += len(doc['records'])
print(n)
`, join(repo, 'docs', 'http-format.schema.json'), dir], { encoding: 'utf8' })
    assert.equal(+out.trim(), 27)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  await c.shutdown()
  await srv.close()
})

test('the browser build refuses a signing secret at construction, whatever consent says', async () => {
  const { TelemetryClient: Browser } = await import('../dist/astrid.browser.mjs')
  // on, off and pending alike: the mistake is the application's, and shows before any user opts in
  for (const enabled of [true, false, undefined]) {
    assert.throws(() => new Browser({ projectName: 'b', enabled, backend: 'http', endpoint: 'https://collect.example/x', signingSecret: 's' }), /not a secret/, String(enabled))
  }
  assert.throws(() => new Browser({ projectName: 'b', enabled: true, backend: 'clickhouse' }), /backend must be one of/)
})
