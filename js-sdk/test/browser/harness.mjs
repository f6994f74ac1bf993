// Shared pieces of the browser tests: Debian's chromium driven by playwright-core, a loopback
// web site serving the fixture pages and the built bundle, and a per-test page that fails the
// test on any uncaught error or unhandled rejection.
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { Collector } from './collector.mjs'

const HERE = path.dirname(fileURLToPath(import.meta.url))
export const SDK = path.resolve(HERE, '..', '..')
export const FIXTURES = path.join(HERE, 'fixtures')
export const BUNDLE = path.join(SDK, 'dist', 'astrid.min.js')
const REPO = path.resolve(SDK, '..')

export const LAUNCH_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage']

function chromiumPath () {
  for (const p of [process.env.ASTRID_TEST_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser']) {
    if (p && fs.existsSync(p)) return p
  }
  return null
}

function loadPlaywright () {
  const dirs = [process.env.ASTRID_TEST_NODE_MODULES, path.join(REPO, 'tests', 'browser', 'node_modules'), path.join(SDK, 'node_modules')]
  for (const d of dirs) {
    if (!d || !fs.existsSync(path.join(d, 'playwright-core'))) continue
    try { return createRequire(path.join(d, 'noop.js'))('playwright-core') } catch {}
  }
  return null
}

/** Why the browser tests cannot run here, or null when they can. */
export function skipReason () {
  if (!chromiumPath()) return 'chromium not found (install Debian\'s chromium or set ASTRID_TEST_CHROMIUM; scripts/test installs it)'
  // playwright-core ends the process on older Nodes ("Playwright requires Node.js 20 or higher")
  if (Number(process.versions.node.split('.')[0]) < 20) return `playwright-core needs Node 20 or newer, this is ${process.version}`
  if (!loadPlaywright()) return 'playwright-core not installed (scripts/test installs it into tests/browser/node_modules)'
  if (!fs.existsSync(BUNDLE)) return 'dist/astrid.min.js not built (npm run build)'
  return null
}

export async function launch () {
  const pw = loadPlaywright()
  return pw.chromium.launch({ executablePath: chromiumPath(), args: LAUNCH_ARGS, timeout: 30000 })
}

/**
 * The web site the fixture pages come from (a different origin from the collector, as in real
 * life). `{{ENDPOINT}}` in a fixture becomes the collector's URL; /astrid.min.js is the build.
 */
export class Site {
  constructor (collector) {
    this.collector = collector
    this.server = null
    this.port = 0
  }

  get url () { return 'http://127.0.0.1:' + this.port }

  async start () {
    // read once: a rebuild running beside the tests (dist/ removed and written again) must not
    // leave a page waiting for its script
    const bundle = fs.readFileSync(BUNDLE)
    this.server = http.createServer((req, res) => {
      try {
        this.handle(req, res, bundle)
      } catch (e) {
        res.writeHead(500, { 'Content-Type': 'text/plain' })
        res.end(String(e))
      }
    })
    this.server.keepAliveTimeout = 500
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.port = this.server.address().port
    return this
  }

  handle (req, res, bundle) {
    const p = decodeURIComponent(req.url.split('?')[0].split('#')[0])
    if (p === '/astrid.min.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript', 'Cache-Control': 'no-store' })
      return res.end(bundle)
    }
    if (p.endsWith('.pdf') || p.endsWith('.zip')) {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Disposition': 'attachment' })
      return res.end('file')
    }
    const name = p === '/' ? 'basic.html' : p.replace(/^\/+/, '').replace(/^(spa|app)\/.*/, 'spa.html')
    const file = path.join(FIXTURES, path.basename(name))
    if (!file.endsWith('.html') || !fs.existsSync(file)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' })
      return res.end('not found')
    }
    const html = fs.readFileSync(file, 'utf8').replaceAll('{{ENDPOINT}}', this.collector.url)
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' })
    res.end(html)
  }

  async stop () {
    this.server.closeAllConnections()
    await new Promise((resolve) => this.server.close(() => resolve()))
  }
}

/**
 * One browser, collector and site for a test file. `open(ctxOptions)` gives a fresh context and
 * page whose uncaught errors and unhandled rejections are collected in `errors`.
 */
export async function setup () {
  const collector = await new Collector().start()
  const site = await new Site(collector).start()
  const browser = await launch()
  const errors = []
  const contexts = []
  async function context (options = {}) {
    const ctx = await browser.newContext({ viewport: { width: 1000, height: 700 }, ...options })
    // the machine may be busy with other suites: slow is not broken
    ctx.setDefaultTimeout(60000)
    contexts.push(ctx)
    ctx.on('page', (p) => watch(p))
    return ctx
  }
  function watch (page) {
    page.on('pageerror', (e) => errors.push(page.url() + ': ' + (e && e.stack ? e.stack : String(e))))
    return page
  }
  async function open (url, options = {}) {
    const ctx = await context(options)
    const page = await ctx.newPage()
    if (url) await page.goto(site.url + url)
    return page
  }
  async function teardown () {
    for (const c of contexts) await c.close().catch(() => {})
    await browser.close().catch(() => {})
    await site.stop().catch(() => {})
    await collector.stop().catch(() => {})
  }
  return { browser, collector, site, errors, context, open, teardown }
}
