// The privacy vectors in a real browser (Debian's chromium, driven by playwright-core): the
// engine's patterns (look-behind, named groups, the d and u flags, Unicode properties) and
// crypto.subtle hashing behave there as in Node, case for case.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import http from 'node:http'
import { build } from 'esbuild'
import { launch, skipReason } from './browser/harness.mjs'

const reason = skipReason()
const skip = reason && !reason.includes('dist/') ? reason : false
const VECTORS = readFileSync(new URL('../../tests/vectors/privacy.json', import.meta.url), 'utf8')

test('every privacy vector passes in Chromium, with the same hashes as in Node', { skip, timeout: 120000 }, async () => {
  const b = await build({
    entryPoints: [new URL('../src/privacy/index.ts', import.meta.url).pathname], bundle: true, format: 'iife', globalName: 'AstridPrivacy',
    platform: 'browser', define: { __NODE__: 'false' }, minify: true, write: false, logLevel: 'error', external: ['node:*'],
  })
  const files = { '/': ['text/html', '<!doctype html><title>privacy</title><script src="/privacy.js"></script>'], '/privacy.js': ['text/javascript', b.outputFiles[0].text], '/vectors.json': ['application/json', VECTORS] }
  const server = http.createServer((req, res) => {
    const f = files[req.url]
    res.writeHead(f ? 200 : 404, { 'Content-Type': f ? f[0] : 'text/plain' })
    res.end(f ? f[1] : '')
  })
  await new Promise((res) => server.listen(0, '127.0.0.1', res))
  const browser = await launch()
  try {
    const page = await browser.newPage()
    const errors = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await page.goto(`http://127.0.0.1:${server.address().port}/`)
    const result = await page.evaluate(async () => {
      const data = await (await fetch('/vectors.json')).json()
      const camel = (k) => k.replace(/_([a-z])/g, (_, c) => c.toUpperCase())
      const failed = []
      for (const c of data.cases) {
        const o = {}
        for (const [k, v] of Object.entries({ ...data.defaults, ...(c.config || {}) })) o[camel(k)] = v
        const e = AstridPrivacy.createPrivacyEngine(o)
        const got = c.type === 'text' ? await e.sanitizeText(c.input) : await e.sanitizeAttributes(c.input)
        // the engine keeps the order of the keys it was given, as Python's does
        if ((JSON.stringify(got) === JSON.stringify(c.expected)) === !!c.known_limitation) failed.push(c.id)
      }
      const e = AstridPrivacy.createPrivacyEngine({ salt: 'vector-salt' })
      return { n: data.cases.length, failed, secure: isSecureContext, hashes: await Promise.all(['ada', '\ud800', '\u00e9\u2713'].map((v) => e.hashValue(v))) }
    })
    assert.deepStrictEqual(errors, [])
    assert.ok(result.secure)
    // the browser's hashes are the ones Node (and so Python) computes
    const { createPrivacyEngine } = await import('data:text/javascript;base64,' + Buffer.from((await build({
      entryPoints: [new URL('../src/privacy/index.ts', import.meta.url).pathname], bundle: true, format: 'esm', platform: 'node', define: { __NODE__: 'true' }, write: false, logLevel: 'error', external: ['node:*'],
    })).outputFiles[0].contents).toString('base64'))
    const node = createPrivacyEngine({ salt: 'vector-salt' })
    assert.deepStrictEqual(result.hashes, await Promise.all(['ada', '\ud800', '\u00e9\u2713'].map((v) => node.hashValue(v))))
    console.log(`privacy vectors in chromium: ${result.n - result.failed.length}/${result.n}`)
    assert.deepStrictEqual(result.failed, [])
  } finally {
    await browser.close()
    server.close()
  }
})
