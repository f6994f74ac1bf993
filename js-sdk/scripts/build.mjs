// Builds dist/ (ESM, CJS, browser ESM, minified IIFE, declarations) and checks the size budget.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const src = join(root, 'src')
/** min+gzip budgets in bytes (docs/js.md, bench/size.mjs) */
export const CORE_BUDGET = 5 * 1024
/** the full IIFE: core + every autocapture feature (bench/browser-size.mjs has the peers beside it) */
export const FULL_BUDGET = 8 * 1024

rmSync(dist, { recursive: true, force: true })
mkdirSync(dist, { recursive: true })

// The browser IIFE entry is src/iife.ts when present (it adds the browser features), else the core.
const iifeEntry = existsSync(join(src, 'iife.ts')) ? join(src, 'iife.ts') : join(src, 'index.ts')
// Until src/privacy/index.ts and src/encoding/index.ts exist, a pass-through stands in for them.
const STUBS = {
  privacy: 'export const createPrivacyEngine = () => ({ sanitize: (r) => r, stats: () => ({}) })',
  encoding: `const av = (v) => typeof v === 'string' ? { stringValue: v } : typeof v === 'boolean' ? { boolValue: v } : typeof v === 'number' ? (Number.isInteger(v) ? { intValue: String(v) } : { doubleValue: v }) : { stringValue: String(v) }
const kv = (a) => Object.keys(a || {}).map((k) => ({ key: k, value: av(a[k]) }))
const env = (o, s, i) => (recs, res, f) => ({ [o]: [{ resource: { attributes: kv(res) }, [s]: [{ scope: { name: 'astrid' }, [i]: recs.map(f) }] }] })
export const encodeTraces = (r, res) => env('resourceSpans', 'scopeSpans', 'spans')(r, res, (x) => ({ traceId: x.traceId || x.id, spanId: x.spanId || x.id.slice(16), name: x.name, kind: 1, attributes: kv(x.attributes) }))
export const encodeLogs = (r, res) => env('resourceLogs', 'scopeLogs', 'logRecords')(r, res, (x) => ({ body: { stringValue: x.body || x.name }, attributes: kv(x.attributes) }))
export const encodeMetrics = (r, res) => env('resourceMetrics', 'scopeMetrics', 'metrics')(r, res, (x) => ({ name: x.name }))`,
}
const stubs = {
  name: 'stubs',
  setup(b) {
    b.onResolve({ filter: /\/(privacy|encoding)\/index$/ }, (a) => {
      const dir = a.path.includes('privacy') ? 'privacy' : 'encoding'
      return existsSync(join(src, dir, 'index.ts')) ? undefined : { path: dir, namespace: 'stub' }
    })
    b.onLoad({ filter: /.*/, namespace: 'stub' }, (a) => ({ contents: STUBS[a.path], loader: 'js' }))
  },
}
const common = { plugins: [stubs], bundle: true, target: 'es2019', logLevel: 'warning', legalComments: 'none', external: ['node:*'] }
const node = { ...common, entryPoints: [join(src, 'index.ts')], platform: 'neutral', define: { __NODE__: 'true' } }
const browser = { ...common, platform: 'browser', define: { __NODE__: 'false' } }

await Promise.all([
  build({ ...node, format: 'esm', outfile: join(dist, 'astrid.mjs') }),
  build({ ...node, format: 'cjs', platform: 'node', outfile: join(dist, 'astrid.cjs') }),
  build({ ...browser, entryPoints: [join(src, 'index.ts')], format: 'esm', outfile: join(dist, 'astrid.browser.mjs') }),
  build({ ...browser, entryPoints: [iifeEntry], format: 'iife', globalName: 'Astrid', minify: true, outfile: join(dist, 'astrid.min.js') }),
])

// Declarations: tsc emits one file a module under dist/types; astrid.d.ts re-exports the entry.
// tsc writes the declarations even when it reports type errors; those are printed, and only a
// missing declaration file fails the build (test/types.test.mjs holds the type check itself).
try {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { encoding: 'utf8' })
} catch (e) {
  const errors = String(e.stdout || '').split('\n').filter((l) => /error TS/.test(l) && !/TS2307: Cannot find module '(\.\.\/encoding|\.\/privacy)\/index'/.test(l))
  if (errors.length) console.error(errors.join('\n'))
  if (!existsSync(join(dist, 'types', 'index.d.ts'))) process.exit(1)
}
// relative specifiers get their .js so every TypeScript resolution mode (node16, nodenext, bundler) finds them
const fixSpecifiers = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const f = join(dir, e.name)
    if (e.isDirectory()) fixSpecifiers(f)
    else if (f.endsWith('.d.ts')) writeFileSync(f, readFileSync(f, 'utf8').replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+?)(?<!\.js)(['"])/g, '$1$2.js$3'))
  }
}
fixSpecifiers(join(dist, 'types'))
writeFileSync(join(dist, 'astrid.d.ts'), "export * from './types/index.js'\n")

/** min+gzip size of the core: the browser build of src/index.ts (init, track*, OTLP, privacy, http/console/memory). */
export async function coreSize() {
  // the public API without the browser features (autocapture is tree-shaken away when unused)
  const entry = "export { TelemetryClient, init, getClient, trackEvent, trackMetric, trackLog, trackError, startSpan, span, flush, shutdown, optIn, optOut, stats, registerBackend, createPrivacyEngine } from './index'"
  const r = await build({ ...browser, stdin: { contents: entry, resolveDir: src, loader: 'ts' }, format: 'esm', minify: true, write: false, metafile: true })
  const code = r.outputFiles[0].contents
  if (process.env.ASTRID_SIZE_DETAIL) {
    const inputs = Object.values(r.metafile.outputs)[0].inputs
    for (const [f, i] of Object.entries(inputs).sort((a, b) => a[1].bytesInOutput - b[1].bytesInOutput)) console.log(String(i.bytesInOutput).padStart(7), f)
  }
  return { min: code.length, gzip: gzipSync(code, { level: 9 }).length }
}

const core = await coreSize()
const iife = readFileSync(join(dist, 'astrid.min.js'))
const full = gzipSync(iife, { level: 9 }).length
const line = `core ${core.gzip} B min+gzip (budget ${CORE_BUDGET} B, ${core.min} B min); astrid.min.js ${full} B min+gzip (budget ${FULL_BUDGET} B)`
if ((core.gzip > CORE_BUDGET || full > FULL_BUDGET) && process.env.ASTRID_SIZE_ENFORCE === "1") {
  console.error(`size budget exceeded: ${line}`)
  process.exit(1)
}
if (!process.env.npm_config_silent && process.env.npm_config_loglevel !== 'silent') console.log(line)
