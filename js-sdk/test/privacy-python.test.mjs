// Differential test: random text and attributes built from PII samples, look-alikes, separators and
// arbitrary Unicode go through the JS engine and the Python engine; the outputs must be identical.
// It finds what the shared vectors do not hold yet.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import fc from 'fast-check'
import { build } from 'esbuild'

const root = new URL('../../', import.meta.url).pathname
const PYTHON = root + '.venv/bin/python'
const r = await build({
  entryPoints: [root + 'js-sdk/src/privacy/index.ts'], bundle: true, format: 'esm', platform: 'node',
  define: { __NODE__: 'true' }, write: false, logLevel: 'error', external: ['node:*'],
})
const { createPrivacyEngine } = await import('data:text/javascript;base64,' + Buffer.from(r.outputFiles[0].contents).toString('base64'))

// fragments: every text input of the shared vectors (positives and look-alikes), cut at random
const VECTORS = JSON.parse(readFileSync(root + 'tests/vectors/privacy.json', 'utf8'))
const samples = [...new Set(VECTORS.cases.filter((c) => c.type === 'text').map((c) => c.input))]
const fragment = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...samples) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...samples), fc.nat(), fc.nat()).map(([s, a, b]) => s.slice(Math.min(a, b) % (s.length + 1), Math.max(a, b) % (s.length + 1))) },
  { weight: 2, arbitrary: fc.constantFrom(' ', '\n', '\t', '=', ': ', '"', "'", '/', '\\', '@', '-', '.', '(', ')', '?', '&', '#', '%40', '\u00a0', '\u2028', '\x1c', '\x85', '\ufeff', '\ud800', '\udc00', '\ud83d\ude00', '\u0661\u0662\u0663') },
  // the engine's own output must pass through unchanged in both
  { weight: 1, arbitrary: fc.constantFrom('[REDACTED:iban]', '[REDACTED:email]', '[HASHED:email:0123456789abcdef0123456789abcdef]', '[MASKED:card:1111]', 'hash:0123456789abcdef0123456789abcdef', '...[truncated]', '~') },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 12 }) },
)
const texts = fc.array(fragment, { minLength: 1, maxLength: 6 }).map((a) => a.join(''))
const keys = fc.oneof(fc.constantFrom('note', 'user_id', 'password', 'db.host', 'email', 'x-api-key', 'session.id', 'sessionid', 'exception.stacktrace', 'msg'), texts)
const attrs = fc.dictionary(keys, fc.oneof(texts, fc.integer(), fc.array(texts, { maxLength: 3 }), fc.boolean()), { maxKeys: 5 })

const SCRIPT = `
import json, sys
from astrid.privacy import PrivacyConfig, PrivacyEngine
d = json.loads(sys.stdin.read())
out = []
for options, kind, value in d:
    e = PrivacyEngine(PrivacyConfig(**options), project_name="diff")
    out.append(e.sanitize_text(value) if kind == "text" else e.sanitize_attributes(value))
print(json.dumps(out))
`
const CONFIGS = [
  [{ salt: 'diff-salt' }, { salt: 'diff-salt' }],
  [{ salt: 'diff-salt', max_value_length: 40 }, { salt: 'diff-salt', maxValueLength: 40 }],
  [
    { salt: 'diff-salt', actions: { email: 'hash', card: 'mask', ip: 'drop', phone: 'hash', home_path: 'mask', secret: 'hash' } },
    { salt: 'diff-salt', actions: { email: 'hash', card: 'mask', ip: 'drop', phone: 'hash', home_path: 'mask', secret: 'hash' } },
  ],
]

test('the JS and Python engines give identical output on random PII-laden input', { skip: !existsSync(PYTHON) && 'no .venv/bin/python (scripts/test creates it)' }, async () => {
  const cases = []
  fc.sample(texts, { numRuns: 400, seed: 7 }).forEach((t, i) => cases.push([i % CONFIGS.length, 'text', t]))
  fc.sample(attrs, { numRuns: 150, seed: 11 }).forEach((a, i) => cases.push([i % CONFIGS.length, 'attributes', a]))
  const py = JSON.parse(
    execFileSync(PYTHON, ['-c', SCRIPT], {
      input: JSON.stringify(cases.map(([c, k, v]) => [CONFIGS[c][0], k, v])),
      cwd: root,
      env: { ...process.env, PYTHONPATH: root + 'src' },
      maxBuffer: 1 << 26,
    }).toString(),
  )
  const diffs = []
  for (let i = 0; i < cases.length; i++) {
    const [c, kind, value] = cases[i]
    const e = createPrivacyEngine({ projectName: 'diff', ...CONFIGS[c][1] })
    const js = kind === 'text' ? await e.sanitizeText(value) : await e.sanitizeAttributes(value)
    try {
      assert.deepStrictEqual(js, py[i])
    } catch {
      diffs.push({ config: c, kind, input: value, js, python: py[i] })
    }
  }
  if (diffs.length) console.log(JSON.stringify(diffs.slice(0, 8), null, 1))
  assert.equal(diffs.length, 0, `${diffs.length} of ${cases.length} inputs differ between the engines`)
})

const RECORD_SCRIPT = `
import json, sys, importlib.util
spec = importlib.util.spec_from_file_location("g", "tests/vectors/generate_encoding.py")
g = importlib.util.module_from_spec(spec); spec.loader.exec_module(g)
from astrid.privacy import PrivacyConfig, PrivacyEngine
e = PrivacyEngine(PrivacyConfig(salt="diff-salt"), project_name="diff")
out = []
for r in e.sanitize_batch([g.to_record(d) for d in json.loads(sys.stdin.read())]):
    out.append({
        "name": r.name, "attributes": r.attributes, "body": getattr(r, "body", None),
        "status_message": getattr(r, "status_message", None), "description": getattr(r, "description", None), "unit": getattr(r, "unit", None),
        "events": [{"name": x.name, "attributes": x.attributes} for x in getattr(r, "events", [])],
    })
print(json.dumps(out))
`
test('whole records (names, bodies, status, span events) come out of both engines the same', { skip: !existsSync(PYTHON) && 'no .venv/bin/python (scripts/test creates it)' }, async () => {
  const T = '1764720000123456789'
  const rec = fc.tuple(fc.constantFrom('event', 'span', 'log', 'error', 'metric'), texts, texts, texts, attrs, fc.array(fc.tuple(texts, attrs), { maxLength: 2 })).map(([type, name, body, msg, a, events], i) => {
    const d = { type, id: 'ab'.repeat(16), name, time_ns: T, attributes: a }
    if (type === 'span') Object.assign(d, { end_ns: T, trace_id: 'cd'.repeat(16), span_id: 'ef'.repeat(8), status: 'error', status_message: msg, events: events.map(([n, x]) => ({ name: n, time_ns: T, attributes: x })) })
    if (type === 'log' || type === 'error') Object.assign(d, { body, severity_number: 9 })
    if (type === 'metric') Object.assign(d, { metric_type: 'gauge', start_ns: T, value: 1, description: msg, unit: body })
    return d
  })
  const records = fc.sample(rec, { numRuns: 200, seed: 3 })
  const py = JSON.parse(execFileSync(PYTHON, ['-c', RECORD_SCRIPT], { input: JSON.stringify(records), cwd: root, env: { ...process.env, PYTHONPATH: root + 'src' }, maxBuffer: 1 << 26 }).toString())
  const toJs = (d) => {
    const o = {}
    for (const [k, v] of Object.entries(d)) o[k.replace(/_ns$/, '').replace(/_([a-z])/g, (_, c) => c.toUpperCase())] = k === 'events' ? v.map(toJs) : v
    return o
  }
  const e = createPrivacyEngine({ projectName: 'diff', salt: 'diff-salt' })
  const js = (await e.sanitizeBatch(records.map(toJs))).map((r) => ({
    name: r.name, attributes: r.attributes, body: r.type === 'log' || r.type === 'error' ? r.body : null,
    status_message: r.type === 'span' ? r.statusMessage : null, description: r.type === 'metric' ? r.description : null, unit: r.type === 'metric' ? r.unit : null,
    events: (r.events || []).map((x) => ({ name: x.name, attributes: x.attributes })),
  }))
  assert.equal(js.length, py.length)
  js.forEach((x, i) => assert.deepStrictEqual(x, py[i], JSON.stringify(records[i])))
})
