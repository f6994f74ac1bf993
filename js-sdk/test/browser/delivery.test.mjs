// Delivery that survives the page, in real Chromium: navigating away under latency, a dead
// endpoint across a reload, offline → online; privacy signals and consent.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { setup, skipReason } from './harness.mjs'

const skip = skipReason()
let h

describe('browser delivery and privacy signals', { skip: skip || false }, () => {
  before(async () => { h = await setup() })
  after(async () => {
    if (h) await h.teardown()
  })
  const noErrors = () => assert.deepEqual(h.errors, [], 'uncaught errors or unhandled rejections on a page')
  const ofService = (svc, name) => h.collector.records(name).filter((r) => r.resource['service.name'] === svc)
  const waitFor = (svc, name, n = 1, ms = 15000) =>
    h.collector.until(() => { const r = ofService(svc, name); return r.length >= n ? r : null }, ms, `${n} × ${name} from ${svc}`)

  test('the last events of a page arrive when it navigates away under 300 ms latency', async () => {
    const page = await h.open()
    const cdp = await page.context().newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 300, downloadThroughput: -1, uploadThroughput: -1 })
    h.collector.latency = 300 // and the collector answers late too
    await page.goto(h.site.url + '/unload.html')
    await page.waitForTimeout(500)
    await page.click('#next') // element.click, then page.leave on pagehide; the flush interval is 60 s
    await page.waitForURL('**/other.html')
    const [click] = await waitFor('unload', 'element.click')
    const [leave] = await waitFor('unload', 'page.leave')
    await waitFor('unload', 'page.view')
    assert.equal(click.attributes['element.id'], 'next')
    assert.equal(leave.attributes['url.path'], '/unload.html')
    assert.ok(leave.attributes['engagement.time_ms'] >= 0)
    const sent = h.collector.requests.filter((r) => r.records.some((x) => x.resource['service.name'] === 'unload'))
    assert.ok(sent.every((r) => r.bytes <= 65536), 'within the keepalive budget')
    h.collector.latency = 0
    await page.close()
    noErrors()
  })

  test('a page leaving with events and logs queued: every signal leaves with it under 300 ms latency', async () => {
    const page = await h.open()
    const cdp = await page.context().newCDPSession(page)
    await cdp.send('Network.enable')
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 300, downloadThroughput: -1, uploadThroughput: -1 })
    h.collector.latency = 300
    try {
      await page.goto(h.site.url + '/unload.html')
      await page.waitForTimeout(500)
      // a log and an error beside the events: the logs signal goes to /v1/logs, the events to /v1/traces
      await page.evaluate(() => { Astrid.trackLog('leaving now', { attributes: { marker: 'mixed-unload' } }); Astrid.trackError(new Error('boom'), { marker: 'mixed-unload' }) })
      await page.click('#next')
      await page.waitForURL('**/other.html')
      await waitFor('unload', 'page.leave')
      const logs = await h.collector.until(() => { const r = ofService('unload').filter((x) => x.attributes.marker === 'mixed-unload'); return r.length >= 2 ? r : null }, 15000, 'the log and the error of the leaving page')
      assert.equal(new Set(logs.map((r) => r.id)).size, 2)
    } finally {
      h.collector.latency = 0
    }
    await page.close()
    noErrors()
  })

  test('a page leaving with more than the 64 KB keepalive budget: what does not fit arrives from the next page, once', async () => {
    const page = await h.open('/unload.html')
    await page.evaluate(() => { for (let i = 0; i < 150; i++) Astrid.trackEvent('bulk', { n: i, blob: 'x'.repeat(1000) }) })
    await page.click('#next')
    await page.waitForURL('**/other.html')
    await waitFor('unload', 'bulk', 20)
    await page.goto(h.site.url + '/unload.html') // the next page sends what waited in the outbox
    const bulk = await waitFor('unload', 'bulk', 150, 20000)
    assert.deepEqual(bulk.map((r) => r.attributes.n).sort((a, b) => a - b), [...Array(150).keys()])
    assert.equal(new Set(bulk.map((r) => r.id)).size, 150, 'each record once')
    const sent = h.collector.requests.filter((r) => r.records.some((x) => x.name === 'bulk'))
    assert.ok(sent.length > 1 && sent.every((r) => r.bytes <= 65536), 'split into requests within the budget')
    const st = await page.evaluate(() => Astrid.stats().browser)
    assert.ok(st.resent > 0, 'the records the last page deferred were sent again from the outbox: ' + JSON.stringify(st))
    await page.close()
    noErrors()
  })

  test('the keepalive budget counts bytes: records of non-ASCII text leaving with the page arrive, once, in requests within 64 KB', async () => {
    const page = await h.open('/unload.html')
    // 3 bytes a character in UTF-8: 150 records of 400 characters are ~180 KB on the wire
    await page.evaluate(() => { for (let i = 0; i < 150; i++) Astrid.trackEvent('bulk.utf8', { n: i, blob: '\u20ac'.repeat(400) }) })
    await page.click('#next')
    await page.waitForURL('**/other.html')
    await waitFor('unload', 'bulk.utf8', 10)
    await page.goto(h.site.url + '/unload.html') // the next page sends what waited in the outbox
    const bulk = await waitFor('unload', 'bulk.utf8', 150, 20000)
    assert.deepEqual(bulk.map((r) => r.attributes.n).sort((a, b) => a - b), [...Array(150).keys()])
    assert.equal(new Set(bulk.map((r) => r.id)).size, 150, 'each record once')
    const sent = h.collector.requests.filter((r) => r.records.some((x) => x.name === 'bulk.utf8'))
    assert.ok(sent.every((r) => r.bytes <= 65536), 'every request within the budget: ' + sent.map((r) => r.bytes).join(', '))
    await page.close()
    noErrors()
  })

  test('without fetch keepalive, the last events leave as a text/plain beacon (beacon: true)', async () => {
    const ctx = await h.context()
    await ctx.addInitScript('delete Request.prototype.keepalive')
    const page = await ctx.newPage()
    await page.goto(h.site.url + '/beacon.html')
    await page.waitForTimeout(300)
    await page.click('#next')
    await page.waitForURL('**/other.html')
    await waitFor('beacon', 'element.click')
    await waitFor('beacon', 'page.leave')
    const req = h.collector.requests.find((r) => r.records.some((x) => x.name === 'page.leave' && x.resource['service.name'] === 'beacon'))
    assert.match(req.headers['content-type'], /^text\/plain/)
    await ctx.close()
    noErrors()
  })

  test('a beacon goes to the signal\'s own endpoint (tracesEndpoint), as the backend would send it', async () => {
    const ctx = await h.context()
    await ctx.addInitScript('delete Request.prototype.keepalive')
    const page = await ctx.newPage()
    await page.goto(h.site.url + '/beacon-signal.html')
    await page.waitForTimeout(300)
    await page.click('#next')
    await page.waitForURL('**/other.html')
    await waitFor('beacon-signal', 'page.leave')
    const reqs = h.collector.requests.filter((r) => r.records.some((x) => x.resource['service.name'] === 'beacon-signal'))
    assert.ok(reqs.some((r) => /^text\/plain/.test(r.headers['content-type'])), 'sent as a beacon')
    assert.deepEqual([...new Set(reqs.map((r) => r.path))], ['/custom/traces'])
    await ctx.close()
    noErrors()
  })

  test('a beacon the browser refuses (one signal of a batch): that signal waits in the outbox, the one sent is not sent again', async () => {
    const ctx = await h.context()
    // no fetch keepalive, and the browser refuses beacons to /v1/logs (as when its beacon quota is spent)
    await ctx.addInitScript(`delete Request.prototype.keepalive
      const send = Navigator.prototype.sendBeacon
      Navigator.prototype.sendBeacon = function (url, body) { return String(url).includes('/v1/logs') ? false : send.call(this, url, body) }`)
    const page = await ctx.newPage()
    await page.goto(h.site.url + '/beacon-mixed.html')
    await page.evaluate(() => Astrid.trackLog('mixed.log'))
    await page.waitForTimeout(300)
    await page.click('#next')
    await page.waitForURL('**/other.html')
    await waitFor('beacon-mixed', 'page.leave')
    assert.equal(ofService('beacon-mixed', 'log').length, 0, 'the refused signal did not leave with the page')
    await page.goto(h.site.url + '/beacon-mixed.html') // the next page sends what waited in the outbox
    await waitFor('beacon-mixed', 'log') // a log record's name is `log` (its message is the body)
    await page.evaluate(() => Astrid.flush())
    for (const name of ['element.click', 'page.leave', 'log']) {
      const ids = ofService('beacon-mixed', name).map((r) => r.id)
      assert.ok(ids.length >= 1 && new Set(ids).size === ids.length, name + ' arrived once: ' + ids.length)
    }
    await ctx.close()
    noErrors()
  })

  test('a reload while the endpoint is dead, then recovery: every event exactly once', async () => {
    await h.collector.die()
    const page = await h.open('/api.html?project=outage&enabled=true')
    await page.click('#b')
    // the failed batch waits in the outbox
    await page.waitForFunction(() => (localStorage.getItem('astrid.outbox.outage') || '').includes('element.click'), null, { timeout: 10000 })
    await page.reload()
    await page.click('#b')
    await page.waitForFunction(() => (localStorage.getItem('astrid.outbox.outage') || '').split('page.view').length >= 3, null, { timeout: 10000 })
    await h.collector.start()
    await waitFor('outage', 'page.view', 2, 20000)
    await waitFor('outage', 'element.click', 2, 20000)
    await page.waitForFunction(() => !localStorage.getItem('astrid.outbox.outage'), null, { timeout: 10000 })
    await page.evaluate(() => Astrid.flush())
    await page.reload() // nothing is left to send again
    await waitFor('outage', 'page.view', 3)
    await page.evaluate(() => Astrid.flush())
    const recs = ofService('outage')
    const ids = recs.map((r) => r.id)
    assert.equal(new Set(ids).size, ids.length, 'no record arrived twice: ' + recs.map((r) => r.name).join(','))
    assert.deepEqual(recs.map((r) => r.name).sort(), ['element.click', 'element.click', 'page.view', 'page.view', 'page.view'])
    await page.close()
    noErrors()
  })

  test('the outbox is capped: the oldest records go first, counted', async () => {
    await h.collector.die()
    try {
      const page = await h.open('/api.html?project=cap&enabled=true')
      await page.evaluate(() => { for (let i = 0; i < 1100; i++) Astrid.trackEvent('bulk', { n: i }) })
      const count = () => page.evaluate(() => (JSON.parse(localStorage.getItem('astrid.outbox.cap') || '[]')).reduce((n, e) => n + e.r.length, 0))
      await page.waitForFunction(() => (localStorage.getItem('astrid.outbox.cap') || '').includes('"n":1099') && Astrid.stats().browser.dropped > 0, null, { timeout: 20000 })
      assert.ok((await count()) <= 1000, 'at most 1,000 records kept')
      const kept = await page.evaluate(() => JSON.parse(localStorage.getItem('astrid.outbox.cap')).flatMap((e) => e.r.map((r) => r.attributes.n)).filter((n) => n != null))
      assert.ok(!kept.includes(0) && kept.includes(1099), 'the newest are kept')
      await page.close()
    } finally {
      await h.collector.start()
    }
    noErrors()
  })

  test('a tab hidden while the endpoint is dead sends what waited when shown again, once', async () => {
    await h.collector.die()
    const page = await h.open('/api.html?project=hidden&enabled=true')
    await page.click('#b')
    await page.click('#b')
    await page.waitForFunction(() => (localStorage.getItem('astrid.outbox.hidden') || '').split('element.click').length >= 3, null, { timeout: 15000 })
    const visibility = (state) => page.evaluate((state) => {
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => state })
      document.dispatchEvent(new Event('visibilitychange'))
    }, state)
    await visibility('hidden')
    await page.waitForTimeout(200)
    await h.collector.start()
    await visibility('visible')
    const recs = await h.collector.until(() => { const r = ofService('hidden'); return r.length >= 3 ? r : null }, 20000, 'the page view and two clicks')
    await page.waitForFunction(() => !localStorage.getItem('astrid.outbox.hidden'), null, { timeout: 15000 })
    await page.evaluate(() => Astrid.flush())
    await page.waitForTimeout(500)
    const all = ofService('hidden')
    assert.deepEqual(all.map((r) => r.name).sort(), ['element.click', 'element.click', 'page.view'])
    assert.equal(new Set(all.map((r) => r.id)).size, 3, 'each once: ' + recs.length)
    await page.close()
    noErrors()
  })

  test('offline, then online: what was tracked offline arrives', async () => {
    const page = await h.open('/api.html?project=offline&enabled=true')
    await waitFor('offline', 'page.view')
    await page.context().setOffline(true)
    await page.click('#b')
    await page.click('#b')
    await page.waitForTimeout(600)
    assert.equal(ofService('offline', 'element.click').length, 0)
    await page.context().setOffline(false)
    const clicks = await waitFor('offline', 'element.click', 2, 20000)
    assert.equal(new Set(clicks.map((c) => c.id)).size, 2)
    await page.close()
    noErrors()
  })

  for (const [signal, script] of [
    ['Do Not Track', "Object.defineProperty(Navigator.prototype, 'doNotTrack', { get: () => '1', configurable: true })"],
    ['Global Privacy Control', "Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true, configurable: true })"],
  ]) {
    test(`${signal} stops everything, even with enabled: true`, async () => {
      const project = 'signal-' + signal.replace(/ /g, '')
      const ctx = await h.context()
      await ctx.addInitScript(script)
      const page = await ctx.newPage()
      const posts = []
      page.on('request', (r) => r.method() === 'POST' && posts.push(r.url()))
      await page.goto(h.site.url + '/api.html?enabled=true&project=' + project)
      await page.click('#b')
      const s = await page.evaluate(async () => { await Astrid.flush(); return Astrid.stats() })
      // the visitor's own choice changes nothing either, and is not stored
      assert.equal(await page.evaluate(() => Astrid.optIn()), false, 'optIn under the signal')
      await page.click('#b')
      await page.reload()
      await page.evaluate(() => Astrid.flush())
      assert.equal(s.enabled, false)
      assert.deepEqual(posts, [], 'nothing was sent')
      assert.equal(ofService(project).length, 0)
      assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), [], 'nothing was stored')
      await ctx.close()
      noErrors()
    })
  }

  test('consent pending: records are held until optIn, dropped by optOut', async () => {
    const ctx = await h.context()
    const page = await ctx.newPage()
    await page.goto(h.site.url + '/consent.html')
    await page.click('#b')
    await page.evaluate(() => Astrid.flush())
    assert.equal(ofService('consent').length, 0, 'nothing leaves while consent is pending')
    assert.deepEqual(await page.evaluate(() => [Object.keys(localStorage), Object.keys(sessionStorage)]), [[], []], 'nothing is stored before consent')
    await page.evaluate(() => Astrid.optIn())
    await waitFor('consent', 'page.view')
    await waitFor('consent', 'element.click')
    // a second visitor says no: what waited is dropped and nothing more is sent
    const other = await h.context()
    const p2 = await other.newPage()
    const posts = []
    p2.on('request', (r) => r.method() === 'POST' && posts.push(r.url()))
    await p2.goto(h.site.url + '/consent.html')
    await p2.click('#b')
    await p2.evaluate(() => Astrid.optOut())
    await p2.click('#b')
    await p2.evaluate(() => Astrid.flush())
    await p2.reload()
    await p2.click('#b')
    await p2.evaluate(() => Astrid.flush())
    assert.deepEqual(posts, [])
    assert.equal(ofService('consent', 'page.view').length, 1)
    await ctx.close()
    await other.close()
    noErrors()
  })
})
