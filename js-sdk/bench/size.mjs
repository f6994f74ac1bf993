// Size of the core and of the full browser bundle, min+gzip, with peer SDKs measured in the same run.
// `node bench/size.mjs` (after `npm run build`); exits 1 when the core is over its budget.
import { build } from 'esbuild'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(join(root, 'package.json'))
const CORE_BUDGET = 5 * 1024
const FULL_BUDGET = 8 * 1024
const gz = (b) => gzipSync(b, { level: 9 }).length
const kb = (n) => (n / 1024).toFixed(1) + ' KB'

/** minify `contents` (an entry module) for browsers, as an app's bundler would */
const bundle = async (contents, resolveDir = root) => {
  const r = await build({ stdin: { contents, resolveDir, loader: 'ts' }, bundle: true, minify: true, write: false, format: 'esm', platform: 'browser', define: { __NODE__: 'false', 'process.env.NODE_ENV': '"production"' }, logLevel: 'silent' })
  return r.outputFiles[0].contents
}

const rows = []
const add = (name, bytes, note) => rows.push({ name, min: bytes.length, gzip: gz(bytes), note })

// ours: the core as an app gets it (init + track* + OTLP + privacy engine, no autocapture)
add('astrid core (init, track*, OTLP, privacy)', await bundle(`export { init, trackEvent, trackMetric, trackLog, trackError, span, flush, shutdown, optIn, optOut, TelemetryClient } from './src/index.ts'`), `budget ${kb(CORE_BUDGET)}`)
const parts = {
  'privacy engine alone': `export { createPrivacyEngine } from './src/privacy/index.ts'`,
  'OTLP/JSON encoder alone': `export * from './src/encoding/index.ts'`,
}
for (const [name, entry] of Object.entries(parts)) {
  try {
    add('  ' + name, await bundle(entry))
  } catch {}
}
if (existsSync(join(root, 'dist', 'astrid.min.js'))) add('astrid.min.js (IIFE, everything)', readFileSync(join(root, 'dist', 'astrid.min.js')), `budget ${kb(FULL_BUDGET)}`)

// peers, measured from the packages installed as devDependencies
try {
  add('OpenTelemetry web (WebTracerProvider + BatchSpanProcessor)', await bundle(`export { WebTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-web'; export { trace } from '@opentelemetry/api'`), 'no exporter, no privacy')
} catch (e) {
  rows.push({ name: 'OpenTelemetry web', note: 'not installed: ' + e.message.split('\n')[0] })
}
for (const [name, file] of [['posthog-js (array.js, the snippet bundle)', 'posthog-js/dist/array.js'], ['posthog-js (array.full.js)', 'posthog-js/dist/array.full.js']]) {
  try {
    add(name, readFileSync(require.resolve(file)), 'as published')
  } catch (e) {
    rows.push({ name, note: 'not installed' })
  }
}
// not installable here without adding their whole packages: published figures, clearly labelled
const published = [
  ['Plausible tracker', 2.7, 'published figure, not measured here'],
  ['Umami', 2.4, 'published figure, not measured here'],
  ['Segment analytics.js', 44, 'published figure, not measured here'],
  ['Mixpanel', 130, 'published figure, not measured here'],
]

const pad = (s, n) => String(s).padEnd(n)
console.log(pad('bundle', 62) + pad('min', 10) + pad('min+gzip', 12) + 'note')
for (const r of rows) console.log(pad(r.name, 62) + pad(r.min != null ? kb(r.min) : '-', 10) + pad(r.gzip != null ? kb(r.gzip) : '-', 12) + (r.note || ''))
for (const [n, k, note] of published) console.log(pad(n, 62) + pad('-', 10) + pad(k.toFixed(1) + ' KB', 12) + note)

const core = rows[0].gzip
if (core > CORE_BUDGET) {
  console.log(`\nOVER BUDGET: the core is ${core} B min+gzip, the budget is ${CORE_BUDGET} B`)
  process.exitCode = 1
}
