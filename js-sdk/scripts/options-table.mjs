// The option table of docs/js.md from src/options.ts: `node scripts/options-table.mjs --write` rewrites it.
import { build } from 'esbuild'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
export const DOC = join(root, '..', 'docs', 'js.md')
export const START = '<!-- options:start (generated from js-sdk/src/options.ts: node scripts/options-table.mjs --write) -->'
export const END = '<!-- options:end -->'

export const options = async () => {
  const r = await build({ entryPoints: [join(root, 'src', 'options.ts')], bundle: true, write: false, format: 'esm', platform: 'node', define: { __NODE__: 'true' }, logLevel: 'silent' })
  return import('data:text/javascript;base64,' + Buffer.from(r.outputFiles[0].text).toString('base64'))
}
/** the table as docs/js.md has it now */
export const documented = () => {
  const text = readFileSync(DOC, 'utf8')
  const a = text.indexOf(START)
  const b = text.indexOf(END)
  return a < 0 || b < 0 ? undefined : text.slice(a + START.length, b).trim()
}

if (process.argv.includes('--write')) {
  const table = (await options()).optionsTable()
  const text = readFileSync(DOC, 'utf8')
  const a = text.indexOf(START)
  const b = text.indexOf(END)
  if (a < 0 || b < 0) throw new Error(`docs/js.md has no ${START} … ${END} markers`)
  writeFileSync(DOC, text.slice(0, a + START.length) + '\n' + table + '\n' + text.slice(b))
}
