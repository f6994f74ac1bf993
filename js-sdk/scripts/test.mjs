// Runs the JS tests (test/**/*.test.mjs) with node --test on the Node that runs this script, with the
// runner flags that Node knows: Node 18 has no --test-timeout (20.11) and no --test-force-exit (20.14).
//
//   node scripts/test.mjs                 every test file (what `npm test` runs after the build); on Node 18
//                                         the Chromium ones skip (playwright-core needs Node 20)
//   node scripts/test.mjs --node-only     leave out the browser tests (the files that import test/browser/harness.mjs)
//   node scripts/test.mjs --no-force-exit every file must end by itself (a test registered after a
//                                         top-level await still runs; --test-force-exit would drop it)
import { spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const args = process.argv.slice(2)
for (const a of args) {
  if (a !== '--node-only' && a !== '--no-force-exit') {
    console.error(`scripts/test.mjs: unknown option ${a} (use --node-only, --no-force-exit)`)
    process.exit(2)
  }
}

const files = []
const walk = (dir) => {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name)
    if (e.isDirectory()) walk(p)
    else if (e.name.endsWith('.test.mjs')) files.push(relative(root, p))
  }
}
walk(join(root, 'test'))
files.sort()
const chosen = args.includes('--node-only') ? files.filter((f) => !/harness\.mjs['"]/.test(readFileSync(join(root, f), 'utf8'))) : files

const [major, minor] = process.versions.node.split('.').map(Number)
const atLeast = (m, n) => major > m || (major === m && minor >= n)
const flags = ['--test', '--test-reporter=spec']
// a stuck test fails instead of hanging the suite (where the runner can; on Node 18 the caller's own time limit)
if (atLeast(21, 2) || (major === 20 && minor >= 11)) flags.push('--test-timeout=300000')
if (!args.includes('--no-force-exit') && (atLeast(22, 0) || (major === 20 && minor >= 14))) flags.push('--test-force-exit')

const r = spawnSync(process.execPath, [...flags, ...chosen], { cwd: root, stdio: 'inherit' })
if (r.error) console.error(`scripts/test.mjs: ${r.error.message}`)
process.exit(r.status ?? 1)
