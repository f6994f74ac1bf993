// Size of the core and of the full browser bundle, min+gzip, with peer SDKs measured in the same run.
// `node bench/size.mjs` (after `npm run build`); exits 1 when a bundle is over its enforced limit (scripts/size.mjs).
import { build } from 'esbuild'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { BROWSER, BUDGET, coreSize, fullSize, gz, kb, LIMIT, root, shrink } from '../scripts/size.mjs'

const require = createRequire(join(root, 'package.json'))

/**
 * minify `contents` (an entry module) for browsers, as an app's bundler would: esbuild, then terser, as our own bundles.
 * `ours`: our own sources, whose internal `_` properties our builds rename; a peer's properties stay as they are.
 */
const bundle = async (contents, ours = false) => {
  const { mangleProps, reserveProps, ...opts } = BROWSER
  const r = await build({ ...opts, ...(ours ? { mangleProps, reserveProps } : {}), stdin: { contents, resolveDir: root, loader: 'ts' }, minify: true, write: false, format: 'esm', define: { __NODE__: 'false', 'process.env.NODE_ENV': '"production"' }, logLevel: 'silent' })
  return shrink(r.outputFiles[0].text, true)
}

const rows = []
const add = (name, bytes, note) => rows.push({ name, min: bytes.length, gzip: gz(bytes), note })

// ours: the core as an app gets it (init + track* + OTLP + privacy engine, no autocapture)
// the same measurement the build enforces (scripts/size.mjs)
const core = await coreSize()
rows.push({ name: 'astrid core (init, track*, OTLP, privacy)', min: core.min, gzip: core.gzip, note: `budget ${kb(BUDGET.core)}, enforced limit ${kb(LIMIT.core)}` })
const esbuildOnly = await coreSize({ shrink: false })
rows.push({ name: '  the same, esbuild minify alone', min: esbuildOnly.min, gzip: esbuildOnly.gzip, note: 'without the terser pass' })
const parts = {
  'privacy engine alone': `export { createPrivacyEngine } from './src/privacy/index.ts'`,
  'OTLP/JSON encoder alone': `export * from './src/encoding/index.ts'`,
}
for (const [name, entry] of Object.entries(parts)) {
  try {
    add('  ' + name, await bundle(entry, true))
  } catch {}
}
if (existsSync(join(root, 'dist', 'astrid.min.js'))) {
  const full = fullSize()
  rows.push({ name: 'astrid.min.js (IIFE, everything)', min: full.min, gzip: full.gzip, note: `budget ${kb(BUDGET.full)}, enforced limit ${kb(LIMIT.full)}` })
}

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

for (const [name, k] of [['core', 'core'], ['astrid.min.js', 'full']]) {
  const r = rows.find((x) => x.name.startsWith(name === 'core' ? 'astrid core' : name))
  if (!r) continue
  const gap = r.gzip - BUDGET[k]
  console.log(`\n${name}: ${r.gzip} B min+gzip, ${gap > 0 ? gap + ' B over' : 'within'} the ${BUDGET[k]} B budget of the issue; enforced limit ${LIMIT[k]} B`)
  if (r.gzip > LIMIT[k]) process.exitCode = 1
}
