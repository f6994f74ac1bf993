// The shared consent truth table (tests/vectors/consent.json), the Python CLI's consent file, browser signals.
import assert from 'node:assert/strict'
import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { TelemetryClient } from '../dist/astrid.mjs'

const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..', '..')
const V = JSON.parse(readFileSync(join(repo, 'tests', 'vectors', 'consent.json'), 'utf8'))
const memory = () => ({ name: 'mem', records: [], export(b) { this.records.push(...b.records) } })

/** the consent file exactly as Python's ConsentStore writes it */
const store = (home, project, granted) => {
  const slug = project.trim().replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+|\.+$/g, '') || '_'
  const dir = join(home, 'astrid', 'consent')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, slug + '.json'), JSON.stringify({ project, granted, updated: 0 }))
}

test('every Node case of the consent truth table', async () => {
  const home = mkdtempSync(join(tmpdir(), 'astrid-consent-'))
  const failed = []
  try {
    for (const c of V.node) {
      rmSync(join(home, 'astrid'), { recursive: true, force: true })
      if (c.stored !== null) store(home, V.project, c.stored)
      const env = { ...c.env, XDG_CONFIG_HOME: home, HOME: home }
      const client = new TelemetryClient({ projectName: V.project, enabled: c.enabled ?? undefined, backend: memory(), env, installAtexit: false })
      await client.ready
      const got = { enabled: client.decision.enabled, rule: client.decision.rule }
      if (got.enabled !== c.expect.enabled || got.rule !== c.expect.rule) failed.push(`${c.id}: ${JSON.stringify(got)} != ${JSON.stringify(c.expect)}`)
      assert.equal(client.enabled, c.expect.enabled)
      await client.shutdown(0)
    }
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
  assert.deepEqual(failed, [])
})

// Browser rules run in a child process that plays a browser (document, navigator, localStorage).
const browserScript = (cases) => `
globalThis.document = {}
const store = new Map()
globalThis.localStorage = { getItem: (k) => store.has(k) ? store.get(k) : null, setItem: (k, v) => store.set(k, String(v)), removeItem: (k) => store.delete(k) }
const { TelemetryClient } = await import(${JSON.stringify(join(here, '..', 'dist', 'astrid.browser.mjs'))})
const out = []
for (const c of ${JSON.stringify(cases)}) {
  store.clear()
  Object.defineProperty(globalThis, 'navigator', { value: { doNotTrack: c.doNotTrack ? '1' : 'unspecified', globalPrivacyControl: c.globalPrivacyControl }, configurable: true })
  if (c.stored !== null) store.set('astrid.consent.' + ${JSON.stringify(V.project)}, c.stored ? 'granted' : 'denied')
  const cl = new TelemetryClient({ projectName: ${JSON.stringify(V.project)}, enabled: c.enabled ?? undefined, backend: { export() {} } })
  out.push({ id: c.id, enabled: cl.decision.enabled, rule: cl.decision.rule })
}
console.log(JSON.stringify(out))
`

test('every browser case of the consent truth table (DNT and GPC beat enabled: true)', () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', browserScript(V.browser)], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const got = JSON.parse(r.stdout)
  for (const [i, c] of V.browser.entries()) assert.deepEqual({ enabled: got[i].enabled, rule: got[i].rule }, c.expect, c.id)
})

test('browser: pending records wait for optIn, optOut drops them, the choice is remembered', () => {
  const script = `
globalThis.document = {}
const store = new Map()
globalThis.localStorage = { getItem: (k) => store.has(k) ? store.get(k) : null, setItem: (k, v) => store.set(k, String(v)) }
Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true })
const { TelemetryClient } = await import(${JSON.stringify(join(here, '..', 'dist', 'astrid.browser.mjs'))})
const mem = { records: [], export(b) { this.records.push(...b.records) } }
const a = new TelemetryClient({ projectName: 'shop', backend: mem, flushInterval: 0.01 })
a.trackEvent('before.choice')
await new Promise((r) => setTimeout(r, 50))
const waited = mem.records.length
const pending = a.decision.enabled
a.optIn()
await a.flush(2)
const afterIn = mem.records.map((r) => r.name)
const remembered = store.get('astrid.consent.shop')
const b = new TelemetryClient({ projectName: 'shop', backend: mem })
const bOn = b.enabled
const c = new TelemetryClient({ projectName: 'other', backend: mem })
c.trackEvent('never.sent')
c.optOut()
await c.flush(1)
const d = new TelemetryClient({ projectName: 'other', backend: mem })
console.log(JSON.stringify({ waited, pending, afterIn, remembered, bOn, sent: mem.records.map((r) => r.name), cStats: c.stats().enabled, dRule: d.decision.rule, dOn: d.enabled }))
process.exit(0)
`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  const o = JSON.parse(r.stdout)
  assert.equal(o.pending, null)
  assert.equal(o.waited, 0)
  assert.deepEqual(o.afterIn, ['before.choice'])
  assert.equal(o.remembered, 'granted')
  assert.equal(o.bOn, true)
  assert.deepEqual(o.sent, ['before.choice'])
  assert.equal(o.cStats, false)
  assert.equal(o.dRule, 'stored_consent')
  assert.equal(o.dOn, false)
})

const python = [join(repo, '.venv', 'bin', 'python'), join(repo, '.venv', 'Scripts', 'python.exe')].find((p) => existsSync(p))

test('`astrid consent grant` (the Python CLI) opts a Node tool in; revoke opts it out', { skip: !python && 'the Python venv (.venv, made by scripts/test) is not there' }, async () => {
  const home = mkdtempSync(join(tmpdir(), 'astrid-cli-'))
  const env = { PATH: process.env.PATH, XDG_CONFIG_HOME: home, HOME: home }
  const open = async () => {
    const c = new TelemetryClient({ projectName: 'node-tool', backend: memory(), env, installAtexit: false })
    await c.ready
    await c.shutdown(0)
    return c.decision
  }
  try {
    assert.deepEqual(await open(), { enabled: false, rule: 'default' })
    execFileSync(python, ['-m', 'astrid', 'consent', 'grant', '--project', 'node-tool'], { env })
    assert.deepEqual(await open(), { enabled: true, rule: 'stored_consent' })
    execFileSync(python, ['-m', 'astrid', 'consent', 'revoke', '--project', 'node-tool'], { env })
    assert.deepEqual(await open(), { enabled: false, rule: 'stored_consent' })
    // and the other way round: optIn() in Node writes the file the CLI reads
    const c = new TelemetryClient({ projectName: 'node-tool', backend: memory(), env, installAtexit: false })
    await c.ready
    c.optIn()
    await new Promise((r) => setTimeout(r, 200))
    const status = execFileSync(python, ['-m', 'astrid', 'consent', 'status', '--project', 'node-tool'], { env, encoding: 'utf8' })
    assert.match(status, /stored_consent|granted/)
    assert.equal(c.enabled, true)
    await c.shutdown(0)
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})

test('records tracked while the consent file is read are delivered by the first flush (granted) or never (revoked)', async () => {
  const home = mkdtempSync(join(tmpdir(), 'astrid-consent-'))
  try {
    for (const granted of [true, false]) {
      store(home, 'tool', granted)
      const mem = memory()
      const c = new TelemetryClient({ projectName: 'tool', backend: mem, env: { XDG_CONFIG_HOME: home }, installAtexit: false })
      c.trackEvent('right.away')
      c.trackMetric('m', 1)
      assert.equal(await c.flush(5), true)
      assert.deepEqual(mem.records.map((r) => r.name).sort(), granted ? ['m', 'right.away'] : [])
      c.optOut()
      c.trackEvent('after.opt.out')
      assert.equal(await c.shutdown(1), true)
      assert.equal(mem.records.some((r) => r.name === 'after.opt.out'), false)
    }
  } finally {
    rmSync(home, { recursive: true, force: true })
  }
})

test('browser: a client waiting for consent sleeps (no timer spinning while records are held)', () => {
  const script = `
globalThis.document = {}
Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true })
const { TelemetryClient } = await import(${JSON.stringify(join(here, '..', 'dist', 'astrid.browser.mjs'))})
const c = new TelemetryClient({ projectName: 'sleepy', backend: { export() {} }, flushInterval: 0.01 })
c.trackEvent('waiting')
await new Promise((r) => setTimeout(r, 50))
const real = globalThis.setTimeout
let timers = 0
globalThis.setTimeout = (...a) => (timers++, real(...a))
await new Promise((r) => real(r, 300))
console.log(timers)
process.exit(0)
`
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' })
  assert.equal(r.status, 0, r.stderr)
  assert.ok(+r.stdout.trim() <= 2, `${r.stdout.trim()} timers set while waiting`)
})
