// Main-thread time per auto-captured event in Chromium, with PostHog's autocapture measured in the
// same run. Main-thread time is Chromium's own TaskDuration (every task on the page's main thread:
// the click handler, enqueueing, and the later batching, privacy scan, encoding and send), minus
// the same page and clicks without any SDK.
//   node bench/browser-speed.mjs [--events N] [--json]
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Collector } from '../test/browser/collector.mjs'
import { launch, skipReason } from '../test/browser/harness.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const arg = (name, d) => { const i = process.argv.indexOf(name); return i > 0 ? +process.argv[i + 1] : d }
const N = arg('--events', 500)
const why = skipReason()
if (why) {
  console.log('skipped: ' + why)
  process.exit(0)
}
const posthog = path.join(root, 'node_modules', 'posthog-js', 'dist', 'array.full.js')

const collector = await new Collector().start()
const page = (head) => `<!doctype html><html><head><meta charset="utf-8"><title>bench</title>${head}</head><body><button id="b" class="btn" type="button">Buy now</button></body></html>`
const PAGES = {
  '/none': page(''),
  '/astrid': page(`<script src="/astrid.min.js" data-project-name="bench" data-endpoint="${collector.url}" data-enabled="true" data-autocapture="pageViews,clicks,outboundLinks,fileDownloads,forms,scrollDepth,engagement,pageLeave"></script>`),
  '/posthog': page(`<script src="/posthog.js"></script><script>posthog.init('phc_bench', { api_host: '${collector.url}', autocapture: true, capture_pageview: true, disable_session_recording: true, advanced_disable_decide: true, disable_surveys: true, persistence: 'localStorage' })</script>`),
}
const site = http.createServer((req, res) => {
  const p = req.url.split('?')[0]
  if (p === '/astrid.min.js') return res.end(fs.readFileSync(path.join(root, 'dist', 'astrid.min.js')))
  if (p === '/posthog.js' && fs.existsSync(posthog)) return res.end(fs.readFileSync(posthog))
  res.setHeader('Content-Type', 'text/html')
  res.end(PAGES[p] || 'not found')
})
await new Promise((r) => site.listen(0, '127.0.0.1', r))
const base = 'http://127.0.0.1:' + site.address().port

const browser = await launch()
async function measure (which) {
  const ctx = await browser.newContext()
  const pg = await ctx.newPage()
  await pg.goto(base + '/' + which)
  await pg.waitForTimeout(300)
  const cdp = await ctx.newCDPSession(pg)
  await cdp.send('Performance.enable')
  const metric = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value
  const before = await metric()
  // the click handlers themselves (synchronous, on the caller's side of the queue)
  const sync = await pg.evaluate((n) => { const b = document.getElementById('b'); const t = performance.now(); for (let i = 0; i < n; i++) b.click(); return performance.now() - t }, N)
  // let the SDK batch, scan, encode and send what the clicks made (PostHog batches every few seconds)
  if (which === 'astrid') await pg.evaluate(() => Astrid.flush())
  await pg.waitForTimeout(4000)
  const after = await metric()
  await ctx.close()
  return { total: (after - before) * 1000, sync } // ms
}

const rows = []
const runs = 3
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1]
const results = { none: [], astrid: [], posthog: [] }
const syncs = { none: [], astrid: [], posthog: [] }
for (let i = 0; i < runs; i++) {
  for (const w of Object.keys(results)) {
    if (w === 'posthog' && !fs.existsSync(posthog)) continue
    const m = await measure(w)
    results[w].push(m.total)
    syncs[w].push(m.sync)
  }
}
const none = median(results.none)
const noneSync = median(syncs.none)
for (const w of ['astrid', 'posthog']) {
  if (!results[w].length) continue
  const t = median(results[w])
  const sy = median(syncs[w])
  rows.push({ sdk: w, events: N, main_thread_ms: +(t - none).toFixed(1), per_event_us: +(((t - none) / N) * 1000).toFixed(1), handler_us: +(((sy - noneSync) / N) * 1000).toFixed(1) })
}
const sent = collector.records().filter((r) => r.name === 'element.click').length
await browser.close()
site.close()
await collector.stop()
if (process.argv.includes('--json')) console.log(JSON.stringify({ rows, baseline_ms: none, astrid_clicks_received: sent }, null, 2))
else {
  console.log(`main-thread time per auto-captured click in Chromium (${N} clicks, median of ${runs} runs, page without SDK subtracted: ${none.toFixed(1)} ms)`)
  console.log('| SDK | main-thread ms | per event, all work (µs) | per event, click handler only (µs) |\n|---|---:|---:|---:|')
  for (const r of rows) console.log(`| ${r.sdk} | ${r.main_thread_ms} | ${r.per_event_us} | ${r.handler_us} |`)
  console.log(`(Astrid delivered ${sent} element.click records to the loopback collector)`)
}
