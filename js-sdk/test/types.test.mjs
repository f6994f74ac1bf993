// The declarations resolve for a TypeScript consumer (node16 and bundler resolution) and type the API.
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..')
const tsc = join(pkg, 'node_modules', 'typescript', 'bin', 'tsc')

const consumer = `
import { TelemetryClient, init, trackEvent, ExportResult, type Backend, type Span } from 'astrid-telemetry'
const mine: Backend = { name: 'mine', export: (batch) => (batch.records.length ? ExportResult.success() : ExportResult.retry('empty', 1)) }
const c: TelemetryClient = new TelemetryClient({ projectName: 'typed', backend: [mine, 'otlp'], batchSize: 10, eventsAs: 'logs' })
c.trackEvent('x', { a: 1 })
c.trackMetric('m', 2, { metricType: 'gauge', unit: 'ms' })
c.trackLog('l', { level: 'warning' })
const n: number = c.span('s', { k: 1 }, (s: Span) => { s.setAttribute('a', 1).end(); return 1 })
const p: Promise<boolean> = c.flush(1)
init({ projectName: 'x' })
trackEvent('y')
// @ts-expect-error flush returns a promise of boolean
const wrong: string = await c.shutdown()
export { n, p, wrong }
`

for (const [mode, module] of [['node16', 'node16'], ['bundler', 'esnext']]) {
  test(`a TypeScript consumer type-checks against dist/astrid.d.ts (moduleResolution ${mode})`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'astrid-types-'))
    try {
      const nm = join(dir, 'node_modules', 'astrid-telemetry')
      mkdirSync(nm, { recursive: true })
      cpSync(join(pkg, 'package.json'), join(nm, 'package.json'))
      cpSync(join(pkg, 'dist'), join(nm, 'dist'), { recursive: true })
      writeFileSync(join(dir, 'package.json'), '{"type": "module"}')
      writeFileSync(join(dir, 'main.ts'), consumer)
      writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { strict: true, noEmit: true, module, moduleResolution: mode, target: 'es2022', lib: ['es2022', 'dom'], types: [] }, files: ['main.ts'] }))
      let out = ''
      try {
        execFileSync(process.execPath, [tsc, '-p', dir], { encoding: 'utf8' })
      } catch (e) {
        out = String(e.stdout || e.message)
      }
      assert.equal(out, '')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
}
