// The size rules the build enforces, checked on what it built: no Node-only code in a browser bundle,
// every bundle within its enforced limit, and the limits a ratchet that never hides the budgets.
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { BUDGET, coreSize, fullSize, LIMIT, nodeOnly, report, root } from '../scripts/size.mjs'

test('browser bundles hold no Node-only code; the Node build does', () => {
  for (const f of ['astrid.min.js', 'astrid.browser.mjs']) assert.deepEqual(nodeOnly(readFileSync(join(root, 'dist', f), 'utf8')), [], f)
  const node = nodeOnly(readFileSync(join(root, 'dist', 'astrid.mjs'), 'utf8'))
  for (const s of ['clickhouse', 'beforeExit', 'X-Astrid-Signature']) assert.ok(node.includes(s), `the check would see ${s}`)
})

test('the core and the full IIFE are within their enforced limits, and the report names the budgets', async () => {
  const core = await coreSize()
  const full = fullSize()
  const r = report(core, full)
  assert.deepEqual(r.over, [])
  assert.ok(core.gzip <= LIMIT.core && full.gzip <= LIMIT.full)
  assert.match(r.lines.join('\n'), new RegExp(`budget ${BUDGET.core} B`))
  assert.match(r.lines.join('\n'), new RegExp(`budget ${BUDGET.full} B`))
  // a limit above a budget is a ratchet: at most the measured size rounded up to the next 0.5 KB, plus one step for peers' work in flight
  for (const [k, s] of [['core', core], ['full', full]]) {
    if (LIMIT[k] > BUDGET[k]) assert.ok(LIMIT[k] - s.gzip <= 1024, `${k}: limit ${LIMIT[k]} B is more than 1 KB above its measured ${s.gzip} B: lower it`)
  }
  assert.deepEqual(report({ gzip: LIMIT.core + 1, min: 0 }, { gzip: 1, min: 0 }).over.length, 1)
})

// Internal properties end in `_` and every build renames them (one mangle cache for all builds, so the names agree):
// none may survive in a bundle, and none may be public API that the declarations promise.
test('internal _ properties are renamed in every build and are not public API', async () => {
  for (const f of ['astrid.mjs', 'astrid.cjs', 'astrid.browser.mjs', 'astrid.min.js']) {
    const code = readFileSync(join(root, 'dist', f), 'utf8')
    assert.deepEqual([...new Set(code.match(/\.[A-Za-z$][\w$]*_(?![\w$])/g) || [])], [], f)
  }
  const A = await import('../dist/astrid.mjs')
  const c = new A.TelemetryClient({ projectName: 'size', backend: 'memory', enabled: true, env: {}, installAtexit: false })
  const s = c.startSpan('x')
  const names = [...Object.keys(A), ...Object.getOwnPropertyNames(A.TelemetryClient.prototype), ...Object.keys(c), ...Object.keys(s)]
  for (const n of ['trackEvent', 'trackMetric', 'trackLog', 'trackError', 'startSpan', 'span', 'flush', 'shutdown', 'stats', 'optIn', 'optOut', 'config', 'decision', 'ready', 'end', 'setAttribute']) assert.ok(names.includes(n), n)
  s.end()
  await c.shutdown(1)
  // in the declarations, a member of the client named with a trailing _ is private (absent from the bundles, so unusable)
  const dts = readFileSync(join(root, 'dist', 'types', 'client.d.ts'), 'utf8')
  assert.deepEqual(dts.split('\n').filter((l) => /^\s+(?:readonly\s+)?[A-Za-z$][\w$]*_\??[(:;]/.test(l) && !/^\s+private\b/.test(l)), [])
  assert.doesNotMatch(readFileSync(join(root, 'dist', 'types', 'index.d.ts'), 'utf8'), /\b[A-Za-z$][\w$]*_\b(?! *from)/)
})

