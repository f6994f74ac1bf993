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
