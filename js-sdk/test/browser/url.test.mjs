// URL sanitizing, referrer classes and device context, in Node (no browser needed): the parts of
// autocapture that read what the user controls (addresses, query strings, the user agent).
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { build } from 'esbuild'
import fc from 'fast-check'
import { SDK } from './harness.mjs'

const { outputFiles } = await build({
  stdin: { contents: "export * from './src/browser/url'; export { deviceContext } from './src/browser/device'", resolveDir: SDK, loader: 'ts' },
  bundle: true, write: false, format: 'esm', platform: 'neutral', define: { __NODE__: 'false' }, logLevel: 'silent',
})
const m = await import('data:text/javascript;base64,' + Buffer.from(outputFiles[0].text).toString('base64'))

test('UTM parameters are kept, secret-named ones removed, the rest kept for the privacy engine', () => {
  const u = m.cleanUrl('https://shop.example/cart?utm_source=mail&utm_Campaign=x&q=shoes&access_token=T&apiKey=K&X-Session=S&sessionid=1&sid=2&password=p&code=c&state=s&page=2#/step?otp=1')
  assert.equal(u.full, 'https://shop.example/cart?utm_source=mail&utm_Campaign=x&q=shoes&page=2#/step')
  assert.equal(u.path, '/cart')
  assert.deepEqual(u.utm, { 'utm.source': 'mail', 'utm.campaign': 'x' })
  assert.equal(m.cleanUrl('https://a.example/#access_token=abc').full, 'https://a.example/')
  assert.equal(m.cleanUrl('not a url :'), undefined)
  for (const k of ['keyword', 'q', 'sort', 'lang', 'ref', 'monkey', 'author']) assert.equal(m.secretParam(k), false, k)
  for (const k of ['token', 'id_token', 'refreshToken', 'api_key', 'API-KEY', 'auth', 'session', 'password', 'client_secret', 'sig', 'jwt']) assert.equal(m.secretParam(k), true, k)
  // UTM-looking is not a pass: utm_token is a secret-named parameter, dropped with its utm.token
  const t = m.cleanUrl('https://a.example/?utm_source=news&utm_token=SECRET')
  assert.equal(t.full, 'https://a.example/?utm_source=news')
  assert.deepEqual(t.utm, { 'utm.source': 'news' })
})

test('a secret-named parameter never survives, whatever surrounds it; nothing throws', () => {
  const word = fc.constantFrom('token', 'key', 'auth', 'session', 'password', 'secret', 'signature', 'jwt', 'otp')
  const deco = fc.stringMatching(/^[a-z]{0,6}$/)
  fc.assert(fc.property(deco, word, deco, fc.string(), fc.string(), (pre, w, post, value, other) => {
    const name = (pre ? pre + '_' : '') + w + (post ? '_' + post : '')
    const href = 'https://x.example/p?' + new URLSearchParams([['a', other], [name, 'SECRET' + value]]).toString()
    const u = m.cleanUrl(href)
    assert.ok(!new URL(u.full).searchParams.has(name))
    assert.ok(!u.full.includes(encodeURIComponent('SECRET' + value)) || value === '' && !u.full.includes('SECRET'))
  }), { numRuns: 300 })
  fc.assert(fc.property(fc.string(), fc.string(), (href, base) => {
    const u = m.cleanUrl(href, base || undefined)
    assert.ok(u === undefined || typeof u.full === 'string')
    const r = m.referrer(href, base)
    assert.ok(['search', 'social', 'internal', 'referral', 'direct'].includes(r['referrer.class']))
  }), { numRuns: 500 })
})

test('referrer classes', () => {
  const c = (ref) => m.referrer(ref, 'shop.example')['referrer.class']
  assert.equal(c(''), 'direct')
  assert.equal(c('https://www.google.com/'), 'search')
  assert.equal(c('https://duckduckgo.com/?q=x'), 'search')
  assert.equal(c('https://www.bing.com/search?q=x'), 'search')
  assert.equal(c('https://t.co/abc'), 'social')
  assert.equal(c('https://www.reddit.com/r/x'), 'social')
  assert.equal(c('https://l.facebook.com/'), 'social')
  assert.equal(c('https://shop.example/other'), 'internal')
  assert.equal(c('https://blog.example/post'), 'referral')
  assert.deepEqual(m.referrer('https://www.google.com/search?q=secret', 'x'), { 'referrer.host': 'www.google.com', 'referrer.class': 'search' })
})

test('device context: families and major versions, never the user-agent string', () => {
  const cases = [
    ['Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87', 'Edge', '126', 'Windows', '10', 'desktop'],
    ['Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15', 'Safari', '17', 'macOS', '10', 'desktop'],
    ['Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'Safari', '17', 'iOS', '17', 'mobile'],
    ['Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.6478.122 Mobile Safari/537.36', 'Chrome', '126', 'Android', '14', 'mobile'],
    ['Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0', 'Firefox', '127', 'Linux', undefined, 'desktop'],
    ['Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1', 'Safari', '17', 'iOS', '17', 'tablet'],
  ]
  const saved = Object.getOwnPropertyDescriptor(globalThis, 'navigator')
  try {
    for (const [ua, b, bv, os, ov, type] of cases) {
      Object.defineProperty(globalThis, 'navigator', { value: { userAgent: ua, language: 'de-DE' }, configurable: true })
      const d = m.deviceContext()
      assert.equal(d['browser.name'], b, ua)
      assert.equal(d['browser.version'], bv, ua)
      assert.equal(d['os.name'], os, ua)
      assert.equal(d['os.version'], ov, ua)
      assert.equal(d['device.type'], type, ua)
      assert.equal(d['browser.language'], 'de-DE')
      assert.ok(!JSON.stringify(d).includes('Mozilla'))
    }
  } finally {
    if (saved) Object.defineProperty(globalThis, 'navigator', saved)
  }
})
