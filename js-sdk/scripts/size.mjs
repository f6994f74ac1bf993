// Size of the browser bundles, min+gzip: the one measurement the build enforces and bench/size.mjs reports.
import { build } from 'esbuild'
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { minify as terser } from 'terser'

export const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const src = join(root, 'src')

/** The issues' budgets, min+gzip bytes: the core (init + track* + OTLP + privacy, no autocapture) and the full IIFE. */
export const BUDGET = { core: 5 * 1024, full: 8 * 1024 }
/**
 * What every build enforces (a ratchet): the sizes measured when the limits were last set, rounded up to
 * the next 0.5 KB, while the budgets above are out of reach. Lower them whenever a change shrinks a bundle;
 * raising one is a decision to write down in the CHANGELOG, never a side effect.
 */
export const LIMIT = { core: 16 * 1024, full: 21 * 1024 }

/**
 * Every build renames the SDK's internal properties, those whose name ends in `_`, to short names (one cache
 * shared by all builds: the same name everywhere). Such a name is never public API, an option, a stats() key,
 * a record or wire field, nor set on an object the SDK did not create; it is written as a plain identifier
 * (`o.q_`), never quoted (`o['q_']` and `'q_' in o` are not renamed), and no test reads it.
 */
export const MANGLE = { mangleProps: /_$/, reserveProps: /^__.*__$/ }
/** esbuild options of every browser build (Node-only code is dead code there: __NODE__ is false). */
export const BROWSER = { bundle: true, platform: 'browser', target: 'es2019', legalComments: 'none', external: ['node:*'], define: { __NODE__: 'false' }, logLevel: 'warning', ...MANGLE }
/** the core: the public API without the browser features (autocapture is tree-shaken away when unused) */
export const CORE_ENTRY = "export { TelemetryClient, init, getClient, trackEvent, trackMetric, trackLog, trackError, startSpan, span, flush, shutdown, optIn, optOut, stats, registerBackend, createPrivacyEngine } from './index'"
/** Strings only Node code has (ClickHouse, request signing, the consent file, node: modules, process hooks). */
export const NODE_ONLY = /node:|clickhouse|X-Astrid-Signature|createHmac|getBuiltinModule|beforeExit|process\.(?:env|once|on|versions)\b|OTEL_RESOURCE_ATTRIBUTES|consent\.json/g

/**
 * The second minifier pass of every minified browser bundle: esbuild bundles, drops the Node code and
 * minifies; terser then compresses further and names identifiers by frequency (about 5% less after gzip).
 * `module`: an ES module (its top level is ours to rename); otherwise a script whose globals stay.
 */
export const shrink = async (code, module) =>
  (await terser(String(code), { module, ecma: 2019, compress: { passes: 2 }, mangle: { toplevel: module }, format: { comments: false, ascii_only: true } })).code

export const gz = (code) => gzipSync(code, { level: 9 }).length
export const kb = (n) => (n / 1024).toFixed(1) + ' KB'

/** The core as an app's bundler gets it: minified ESM for browsers. `extra`: more esbuild options (plugins); shrink: false for esbuild alone. */
export async function coreSize(extra = {}) {
  const { shrink: _, ...opts } = extra
  const r = await build({ ...BROWSER, ...opts, stdin: { contents: CORE_ENTRY, resolveDir: src, loader: 'ts' }, format: 'esm', minify: true, write: false, metafile: true })
  const code = extra.shrink === false ? r.outputFiles[0].text : await shrink(r.outputFiles[0].text, true)
  const inputs = Object.values(r.metafile.outputs)[0].inputs
  return { min: code.length, gzip: gz(code), code, modules: Object.entries(inputs).map(([f, i]) => [f, i.bytesInOutput]).sort((a, b) => b[1] - a[1]) }
}

/** min and min+gzip of the built IIFE (dist/astrid.min.js) */
export const fullSize = (file = join(root, 'dist', 'astrid.min.js')) => {
  const code = readFileSync(file)
  return { min: code.length, gzip: gz(code), code }
}

/** Node-only strings found in a browser bundle (none is the rule). */
export const nodeOnly = (code) => [...new Set(String(code).match(NODE_ONLY) || [])]

/** One line per bundle with its limit and the gap to the budget; `over` lists what exceeds its enforced limit. */
export const report = (core, full) => {
  const lines = []
  const over = []
  for (const [name, s, k] of [['core', core, 'core'], ['astrid.min.js', full, 'full']]) {
    const gap = s.gzip - BUDGET[k]
    lines.push(`${name}: ${s.gzip} B min+gzip (${s.min} B min); limit ${LIMIT[k]} B; budget ${BUDGET[k]} B, ${gap > 0 ? gap + ' B over it' : 'within it'}`)
    if (s.gzip > LIMIT[k]) over.push(`${name} is ${s.gzip} B min+gzip, over its limit of ${LIMIT[k]} B`)
  }
  return { lines, over }
}
