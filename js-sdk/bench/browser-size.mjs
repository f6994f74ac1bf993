// Bundle sizes (min and min+gzip) of the browser builds, with the peers measured in the same run.
//   node bench/browser-size.mjs [--json]
// astrid.min.js is the full IIFE (core + every autocapture feature); "app without autocapture" and
// "app with autocapture" are tree-shaken bundles of a small app, to show what autocapture adds.
import { build } from 'esbuild'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { BROWSER, shrink } from '../scripts/size.mjs'

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
export const FULL_BUDGET = 8 * 1024
const sizeOf = (code) => ({ min: code.length, gzip: gzipSync(code, { level: 9 }).length })

/** bytes each browser module puts into esbuild's minified output (before terser and gzip), of the last app built with `modules` */
let modules = []
async function app (source) {
  const r = await build({
    stdin: { contents: source, resolveDir: root, loader: 'ts' },
    ...BROWSER, minify: true, write: false, format: 'esm', logLevel: 'silent', metafile: true,
  })
  modules = Object.entries(Object.values(r.metafile.outputs)[0].inputs).filter(([f]) => f.includes('browser/')).map(([f, i]) => [f.replace(/^.*browser\//, ''), i.bytesInOutput]).sort((a, b) => b[1] - a[1])
  // the same options (BROWSER: internal `_` names renamed) and minifier passes as our own bundles (esbuild, then terser: scripts/size.mjs)
  return sizeOf(await shrink(r.outputFiles[0].text, true))
}

const rows = []
const add = (name, s, note = '') => rows.push({ name, ...s, note })
const dist = path.join(root, 'dist', 'astrid.min.js')
if (!fs.existsSync(dist)) {
  console.error('dist/astrid.min.js is missing: run npm run build first')
  process.exit(1)
}
add('astrid.min.js (IIFE: core + all autocapture)', sizeOf(fs.readFileSync(dist)), 'budget ' + FULL_BUDGET + ' B')
add('app: init + trackEvent (no autocapture)', await app("import { init, trackEvent } from './src/index'; init({ projectName: 'a', enabled: true }); trackEvent('x')"))
add('app: init + autocapture (all features)', await app("import { init } from './src/index'; import { autocapture } from './src/browser/index'; init({ projectName: 'a', enabled: true }); autocapture({ pageViews: true, clicks: true, outboundLinks: true, fileDownloads: true, forms: true, scrollDepth: true, engagement: true, pageLeave: true })"))
const browserModules = modules
add('app: init + browser base (sessions, device, delivery)', await app("import { init } from './src/index'; import { browser } from './src/browser/index'; init({ projectName: 'a', enabled: true }); browser({})"))
for (const f of ['pageViews', 'elementClicks', 'outboundLinks', 'fileDownloads', 'forms', 'scrollDepth', 'engagement', 'pageLeave']) {
  add(`app: init + browser base + ${f}`, await app(`import { init } from './src/index'; import { browser, ${f} } from './src/browser/index'; init({ projectName: 'a', enabled: true }); browser({}, undefined, [${f}])`))
}
// what the script tag's data-* loader (src/browser/loader.ts, in astrid.min.js only) adds to the IIFE's exports
const IIFE_EXPORTS = "export * from './src/index'; export { FEATURES } from './src/browser/autocapture'"
add('IIFE exports without the data-* loader (ESM)', await app(IIFE_EXPORTS))
add('IIFE exports with the data-* loader (ESM)', await app(IIFE_EXPORTS + "; import { fromScript } from './src/browser/loader'; fromScript()"))

// What each browser module adds after gzip: the browser part alone (the core left out as external
// imports), built module by module in dependency order; each row is the growth of min+gzip.
const alone = { name: 'core-external', setup (b) { b.onResolve({ filter: /^\.\.\// }, (a) => (a.importer.includes('/browser/') ? { path: a.path, external: true } : undefined)) } }
const ORDER = ['env', 'context', 'session', 'device', 'outbox', 'delivery', 'url', 'pageviews', 'clicks', 'forms', 'scroll', 'engagement', 'leave', 'autocapture', 'loader']
const steps = []
{
  let prev = 0
  for (let i = 0; i < ORDER.length; i++) {
    const r = await build({ ...BROWSER, plugins: [alone], stdin: { contents: ORDER.slice(0, i + 1).map((m) => `export * from './${m}'`).join(';'), resolveDir: path.join(root, 'src', 'browser'), loader: 'ts' }, format: 'esm', minify: true, write: false, logLevel: 'silent' })
    const g = sizeOf(await shrink(r.outputFiles[0].text, true)).gzip
    steps.push([ORDER[i] + '.ts', g - prev])
    prev = g
  }
}

// peers
const nm = path.join(root, 'node_modules')
const peer = (name, file, note) => {
  const f = path.join(nm, file)
  if (fs.existsSync(f)) add(name, sizeOf(fs.readFileSync(f)), note)
  else add(name, { min: NaN, gzip: NaN }, 'not installed')
}
peer('posthog-js array.full.js', 'posthog-js/dist/array.full.js', 'everything, autocapture on by default')
peer('posthog-js array.js', 'posthog-js/dist/array.js', 'core script; features load lazily from the server')
if (fs.existsSync(path.join(nm, '@opentelemetry', 'sdk-trace-web'))) {
  add('OpenTelemetry web (WebTracerProvider + BatchSpanProcessor)', await app("import { WebTracerProvider } from '@opentelemetry/sdk-trace-web'; import { BatchSpanProcessor, ConsoleSpanExporter } from '@opentelemetry/sdk-trace-base'; const p = new WebTracerProvider({ spanProcessors: [new BatchSpanProcessor(new ConsoleSpanExporter())] }); p.register(); p.getTracer('a').startSpan('x').end()"), 'no exporter, no autocapture')
}

const full = rows[0]
const browserOnly = rows[2].gzip - rows[1].gzip
const base = rows[3].gzip
for (const r of rows) if (/browser base \+/.test(r.name)) r.note = '+' + (r.gzip - base) + ' B over the base'
const withLoader = rows.findIndex((r) => /with the data-\* loader/.test(r.name))
rows[withLoader].note = '+' + (rows[withLoader].gzip - rows[withLoader - 1].gzip) + ' B: the loader'
rows[3].note = '+' + (base - rows[1].gzip) + ' B over the app without autocapture'
if (process.argv.includes('--json')) console.log(JSON.stringify({ rows, autocaptureAdds: browserOnly, budget: FULL_BUDGET, browserModules: Object.fromEntries(browserModules), browserModulesGzip: Object.fromEntries(steps) }, null, 2))
else {
  console.log('| bundle | min | min+gzip | note |\n|---|---:|---:|---|')
  for (const r of rows) console.log(`| ${r.name} | ${r.min} | ${r.gzip} | ${r.note} |`)
  console.log('\n| browser module (app with every feature) | bytes in esbuild\'s minified output |\n|---|---:|')
  for (const [f, n] of browserModules) console.log(`| ${f} | ${n} |`)
  console.log(`| all browser modules | ${browserModules.reduce((t, [, n]) => t + n, 0)} |`)
  console.log('\n| browser module, added in this order (browser part alone, core external) | min+gzip it adds |\n|---|---:|')
  for (const [f, n] of steps) console.log(`| ${f} | +${n} |`)
  console.log(`| browser part alone | ${steps.reduce((t, [, n]) => t + n, 0)} |`)
  console.log(`\nautocapture adds ${browserOnly} B min+gzip to an app; full IIFE ${full.gzip} B of the ${FULL_BUDGET} B budget (${full.gzip <= FULL_BUDGET ? 'within' : 'OVER'})`)
}
