// Builds dist/ (ESM, CJS, browser ESM, minified IIFE, declarations); fails when a browser bundle is over its size limit or holds Node-only code.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { BROWSER, coreSize, fullSize, MANGLE, nodeOnly, report, shrink } from './size.mjs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const dist = join(root, 'dist')
const src = join(root, 'src')

// Everything is built into node_modules/.astrid-build-<pid>/ and then moved into dist/ one file at a time
// (a rename replaces a file at once): a test run or a second build sharing this tree never sees dist/ half-empty.
const out = join(root, 'node_modules', '.astrid-build-' + process.pid)
rmSync(out, { recursive: true, force: true })
mkdirSync(out, { recursive: true })
mkdirSync(dist, { recursive: true })
process.on('exit', () => rmSync(out, { recursive: true, force: true }))

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
const node = { ...common, ...MANGLE, entryPoints: [join(src, 'index.ts')], platform: 'neutral', define: { __NODE__: 'true' } }
// minifySyntax even where the output stays readable: it is what drops the `if (__NODE__)` code
const browser = { ...BROWSER, plugins: [stubs], minifySyntax: true }

/**
 * The script-tag bundle: the ESM build of the IIFE entry run inside a function that returns its exports as
 * window.Astrid (esbuild's iife format wraps each export in a getter: about 190 B more after gzip).
 */
async function iife() {
  const r = await build({ ...browser, entryPoints: [iifeEntry], format: 'esm', minify: true, write: false, mangleCache })
  mangleCache = r.mangleCache
  const code = r.outputFiles[0].text
  const m = /export\s*\{([^}]*)\};?\s*$/.exec(code)
  if (!m || /^\s*import\b/m.test(code)) throw new Error('astrid.min.js: the IIFE entry must end in one export list and import nothing')
  const exports = m[1].split(',').map((e) => e.trim().split(/\s+as\s+/)).map(([local, name = local]) => name + ':' + local)
  return shrink(`var Astrid=(()=>{"use strict";${code.slice(0, m.index)}return{${exports.join(',')}}})();`, false)
}

// Internal `_` properties get one short name in every build: the IIFE (every browser module) names them
// first, the Node ESM build adds the Node-only ones, and the other two builds reuse that cache.
let mangleCache = {}
writeFileSync(join(out, 'astrid.min.js'), await iife())
// astrid.mjs gets a require of its own: Node before 20.16 has no process.getBuiltinModule, and a module that
// only arrives through import() a tick later is too late for the span context (AsyncLocalStorage)
const esmRequire = "import { createRequire as __astridCreateRequire } from 'node:module';\nconst require = __astridCreateRequire(import.meta.url);"
mangleCache = (await build({ ...node, format: 'esm', outfile: join(out, 'astrid.mjs'), mangleCache, banner: { js: esmRequire } })).mangleCache
await Promise.all([
  build({ ...node, format: 'cjs', platform: 'node', outfile: join(out, 'astrid.cjs'), mangleCache }),
  build({ ...browser, entryPoints: [join(src, 'index.ts')], format: 'esm', outfile: join(out, 'astrid.browser.mjs'), mangleCache }),
])

// Declarations: tsc emits one file a module under dist/types; astrid.d.ts re-exports the entry.
// tsc writes the declarations even when it reports type errors; those are printed, and only a
// missing declaration file fails the build (test/types.test.mjs holds the type check itself).
try {
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json'), '--outDir', join(out, 'types')], { encoding: 'utf8' })
} catch (e) {
  const errors = String(e.stdout || '').split('\n').filter((l) => /error TS/.test(l) && !/TS2307: Cannot find module '(\.\.\/encoding|\.\/privacy)\/index'/.test(l))
  if (errors.length) console.error(errors.join('\n'))
  if (!existsSync(join(out, 'types', 'index.d.ts'))) process.exit(1)
}
// relative specifiers get their .js so every TypeScript resolution mode (node16, nodenext, bundler) finds them
const fixSpecifiers = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const f = join(dir, e.name)
    if (e.isDirectory()) fixSpecifiers(f)
    else if (f.endsWith('.d.ts')) writeFileSync(f, readFileSync(f, 'utf8').replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+?)(?<!\.js)(['"])/g, '$1$2.js$3'))
  }
}
fixSpecifiers(join(out, 'types'))
writeFileSync(join(out, 'astrid.d.ts'), "export * from './types/index.js'\n")

for (const name of readdirSync(out)) {
  if (name === 'types') rmSync(join(dist, name), { recursive: true, force: true })
  renameSync(join(out, name), join(dist, name))
}

// Size: the core and the full IIFE, min+gzip, against their enforced limits (scripts/size.mjs), on every build;
// and no Node-only code (ClickHouse, signing, the consent file, node: modules, process hooks) in a browser build.
const core = await coreSize({ plugins: [stubs] })
const full = fullSize(join(dist, 'astrid.min.js'))
if (process.env.ASTRID_SIZE_DETAIL) for (const [f, n] of core.modules) console.log(String(n).padStart(7), f)
const { lines, over } = report(core, full)
for (const [name, code] of [['core', core.code], ['astrid.min.js', full.code], ['astrid.browser.mjs', readFileSync(join(dist, 'astrid.browser.mjs'))]]) {
  const found = nodeOnly(code)
  if (found.length) over.push(`${name} holds Node-only code: ${found.join(', ')}`)
}
if (over.length) {
  console.error(['size check failed:', ...over, ...lines, '(make it smaller, or raise LIMIT in scripts/size.mjs and say why in the CHANGELOG)'].join('\n  '))
  process.exit(1)
}
if (!process.env.npm_config_silent && process.env.npm_config_loglevel !== 'silent') console.log(lines.join('\n'))
