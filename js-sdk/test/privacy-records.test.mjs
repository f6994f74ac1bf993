// The JS privacy engine on whole records, as the pipeline calls it: copies come back sanitized
// (names, attributes, bodies, status messages, span events), the caller's records stay as they
// were, and a record that cannot be sanitized is dropped and counted, never sent.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { build } from 'esbuild'

const r = await build({
  entryPoints: [new URL('../src/privacy/index.ts', import.meta.url).pathname], bundle: true, format: 'esm', platform: 'node',
  define: { __NODE__: 'true' }, write: false, logLevel: 'error', external: ['node:*'],
})
const { createPrivacyEngine } = await import('data:text/javascript;base64,' + Buffer.from(r.outputFiles[0].contents).toString('base64'))
const ID = 'ab'.repeat(16)

test('every text field of a record is sanitized, on a copy', async () => {
  const e = createPrivacyEngine({ projectName: 'records', salt: 'records-salt' })
  const span = {
    type: 'span', id: ID, name: 'GET /reset?token=abc123', time: 1, end: 2, traceId: ID, spanId: 'cd'.repeat(8),
    statusMessage: 'failed for ada@example.com', status: 'error',
    attributes: { 'http.route': '/reset', password: 'hunter2', user_id: 'u-7' },
    events: [{ name: 'retry', time: 1.5, attributes: { peer: '203.0.113.7' } }],
  }
  const log = { type: 'log', id: ID, name: 'log', time: 1, body: 'login from 203.0.113.7', severityNumber: 9, attributes: {} }
  const metric = { type: 'metric', id: ID, name: 'jobs', metricType: 'counter', description: 'by ada@example.com', time: 1, start: 0, value: 1, attributes: { host: '8.8.8.8' } }
  const before = JSON.stringify([span, log, metric])
  const [s, l, m] = await e.sanitizeBatch([span, log, metric])
  assert.equal(JSON.stringify([span, log, metric]), before, 'the caller keeps its records')
  assert.equal(s.name, 'GET /reset?token=[REDACTED:url_secret]')
  assert.equal(s.statusMessage, 'failed for [REDACTED:email]')
  assert.deepStrictEqual(s.attributes, { 'http.route': '/reset', user_id: 'hash:' + (await e.hashValue('u-7')) })
  assert.deepStrictEqual(s.events, [{ name: 'retry', time: 1.5, attributes: { peer: '[REDACTED:ip]' } }])
  assert.equal(l.body, 'login from [REDACTED:ip]')
  assert.equal(m.description, 'by [REDACTED:email]')
  assert.deepStrictEqual(m.attributes, { host: '[REDACTED:ip]' })
  assert.deepStrictEqual(e.stats(), { url_secret: 1, email: 2, ip: 3, keys_removed: 1, keys_hashed: 1 })
})

test('an error record is finalized first: its exception attributes are scanned, the stack keeps its end', async () => {
  const e = createPrivacyEngine({ projectName: 'records', maxValueLength: 64 })
  const err = new Error('no user ada@example.com')
  err.stack = 'Error: no user ada@example.com\n' + '    at frame (/home/ada/app/x.js:1:1)\n'.repeat(10) + '    at last (/srv/app.js:9:9)'
  const [x] = await e.sanitizeBatch([{ type: 'error', id: ID, name: 'exception', time: 1, error: err, severityNumber: 17, attributes: { where: 'import' } }])
  assert.equal(x.name, 'Error')
  assert.equal(x.body, 'Error: no user [REDACTED:email]')
  assert.equal(x.attributes['exception.message'], 'no user [REDACTED:email]')
  const st = x.attributes['exception.stacktrace']
  assert.ok(st.startsWith('...[truncated]') && st.endsWith('at last (/srv/app.js:9:9)') && [...st].length <= 64, st)
  assert.ok(!st.includes('/home/ada'))
})

test('a record that cannot be sanitized is dropped and counted; the others go on', async () => {
  const e = createPrivacyEngine({ projectName: 'records' })
  const bad = { type: 'event', id: ID, time: 1, get name() { throw new Error('boom') }, attributes: {} }
  const good = { type: 'event', id: ID, name: 'ok', time: 1, attributes: { a: 1 } }
  const out = await e.sanitizeBatch([bad, good])
  assert.deepStrictEqual(out.map((x) => x.name), ['ok'])
  assert.equal(e.stats().records_failed, 1)
  assert.equal(await e.sanitizeRecord(bad), null)
  assert.deepStrictEqual(await e.sanitizeAttributes(null), {})
  assert.equal(await e.sanitizeText({ toString() { throw new Error('x') } }), '<unprintable>')
})

test('lists and objects inside a list go out as JSON text, scanned like any text (not "[object Object]")', async () => {
  const e = createPrivacyEngine({ projectName: 'records' })
  const cyc = []
  cyc.push(cyc)
  const out = await e.sanitizeAttributes({ a: [[1, 2], { n: 1, mail: 'ada@example.com' }, 'x', 3, true, cyc] })
  assert.deepStrictEqual(out.a, ['[1,2]', '{"n":1,"mail":"[REDACTED:email]"}', 'x', 3, true, ''])
})

test('bad options throw at construction, naming the option', () => {
  assert.throws(() => createPrivacyEngine({ actions: { emails: 'hash' } }), /^RangeError: privacy\.actions: unknown detector emails; use one of private_key,/)
  assert.throws(() => createPrivacyEngine({ actions: { email: 'encrypt' } }), /^RangeError: privacy\.actions\.email must be one of redact,hash,mask,drop,off; got encrypt$/)
  assert.throws(() => createPrivacyEngine({ maxValueLength: 10 }), /^RangeError: privacy\.maxValueLength must be an integer in \[32, 100000000\]; got 10$/)
  assert.throws(() => createPrivacyEngine({ maxDepth: 2.5 }), /privacy\.maxDepth must be an integer/)
  assert.throws(() => createPrivacyEngine({ hashKeys: 'user_id' }), /^TypeError: privacy\.hashKeys must be an array of strings$/)
  assert.throws(() => createPrivacyEngine({ salt: '' }), /^TypeError: privacy\.salt must be a non-empty string or Uint8Array$/)
  assert.throws(() => createPrivacyEngine({ actions: 'hash' }), /^TypeError: privacy\.actions must be an object$/)
  assert.ok(createPrivacyEngine({ salt: new Uint8Array([1, 2, 3]), denyKeys: ['x'], maxDepth: 64 }))
})
