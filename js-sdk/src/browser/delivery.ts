/**
 * Delivery that survives the page: on page hide the queue is flushed with fetch keepalive (within
 * the browser's 64 KB budget, splitting batches to fit) or navigator.sendBeacon; what cannot be
 * delivered goes to the outbox and is sent again after a reload or when the browser is online.
 */
import { encodeDocument } from '../backends/http'
import { signalOf } from '../backends/otlp'
import { encodeLogs, encodeMetrics, encodeTraces } from '../encoding/index'
import type { Ctx } from './context'
import { g, on, safe, visible } from './env'
import { outbox } from './outbox'

/** Bytes of keepalive requests in flight at once (the browser allows 64 KB a page, all requests together). */
export const KEEPALIVE_BUDGET = 60000

export interface DeliveryOptions {
  /** keep undeliverable batches in localStorage and send them again (default true; false with persistence "memory") */
  outbox?: boolean
  /** on page hide, use navigator.sendBeacon (text/plain) where fetch keepalive is missing; only for receivers that accept text/plain JSON */
  beacon?: boolean
}

const ENCODE: Record<string, (r: any[], res: any) => unknown> = { traces: encodeTraces, metrics: encodeMetrics, logs: encodeLogs }

/** `ctx`: the page's life-cycle hooks (delivery's run after the features': their page-hide events leave too) */
export const delivery = (client: any, me: string, o: DeliveryOptions, ctx: Ctx) => {
  const cfg = client.config
  const nav = g.navigator
  const box = o.outbox === false ? undefined : outbox(cfg.projectName, me)
  const st = { keepalive_batches: 0, split: 0, beacon: 0, deferred: 0 }
  const gzip = cfg.compression
  let hiding = false
  /** keepalive bytes in flight */
  let inflight = 0
  let failing = false
  const decided = (): boolean | null | undefined => client.decision && client.decision.enabled

  const wrap = (l: any): void => {
    const b = l.b
    if (!b || b.__astrid) return
    const orig = b.export.bind(b)
    const lane = l.name
    /** keep a batch in the outbox for this page (`owner` me) or for whoever drains next ('') */
    const keep = (batch: any, owner: string, now?: boolean): unknown => box && box.save_(batch.records, batch.resource, lane, owner, now)
    /** the requests the backend makes for this batch, [url, body, records], uncompressed as on the way out */
    const bodies = (batch: any): any[][] => {
      const recs = batch.records
      if (b.name === 'http') return [[b.endpoint, encodeDocument(recs, batch.resource), recs]]
      if (b.name !== 'otlp') return [['', JSON.stringify(recs), recs]]
      const by: Record<string, any[]> = {}
      for (const r of recs) {
        const k = signalOf(r.type, cfg.eventsAs)
        ;(by[k] = by[k] || []).push(r)
      }
      // where export() posts each signal (a signal's own endpoint included)
      return Object.keys(by).map((sig) => [(b.urls_ || {})[sig], JSON.stringify(ENCODE[sig](by[sig], batch.resource)), by[sig]])
    }
    /** send now, on the way out: the request is started before this returns */
    const out = (batch: any): unknown => {
      const recs = batch.records
      const n = recs.length
      let reqs: any[][]
      try {
        if (failing || nav.onLine === false) throw 0
        reqs = bodies(batch)
      } catch {
        return keep(batch, '', true)
      }
      // one request a call: an export waits for each signal's answer before it posts the next, and a
      // page on its way out does not live that long
      if (reqs.length > 1) return reqs.forEach((r) => out({ records: r[2], resource: batch.resource }))
      if (!n) return
      const [url, body] = reqs[0]
      // bytes on the wire (UTF-8), not characters
      const bytes = new g.Blob([body]).size
      if (bytes + inflight > KEEPALIVE_BUDGET) {
        // halves that fit go now; a single record that does not fit waits in the outbox for the next page
        if (n < 2) return (st.deferred += n), keep(batch, '', true)
        st.split++
        for (const part of [recs.slice(0, n >> 1), recs.slice(n >> 1)]) out({ records: part, resource: batch.resource })
        return
      }
      // sendBeacon only where fetch keepalive does not exist, when asked for; custom headers (auth)
      // cannot ride a beacon, and only the built-in JSON backends know their URLs. A beacon the browser
      // refuses (its quota is spent) waits in the outbox: a plain fetch would not outlive the page.
      if (!(g.Request && 'keepalive' in g.Request.prototype) && o.beacon && !Object.keys(cfg.headers || {}).length && nav.sendBeacon && url)
        return nav.sendBeacon(url, new g.Blob([body], { type: 'text/plain' })) ? st.beacon++ : ((st.deferred += n), keep(batch, '', true))
      st.keepalive_batches++
      inflight += bytes
      const copy = { records: recs.slice(), resource: batch.resource }
      Promise.resolve(orig(copy, cfg.timeout))
        // the page lived on (a hidden tab): keep what failed for later
        .then((r: any) => r && r.ok === false && keep(copy, ''))
        .catch(() => {})
        .then(() => (inflight -= bytes))
    }
    b.export = async (batch: any, timeout: number): Promise<any> => {
      if (hiding) return out(batch), { ok: true }
      const before = batch.records.slice()
      const r = await orig(batch, timeout)
      if (box && r) {
        // delivered: the whole batch, or what a partial delivery took out of it
        const left = new Set(batch.records.map((x: any) => x.id))
        const done = new Set<string>(before.filter((x: any) => r.ok !== false || !left.has(x.id)).map((x: any) => x.id))
        if ((failing = r.ok === false && !!r.retryable)) {
          // the batches queued behind this one wait as long: keep them too
          for (const item of [batch, ...l.q]) if (item === batch || item.records !== batch.records) keep(item, me)
        }
        if (done.size) box.remove_(done)
      }
      return r
    }
    b.__astrid = out
  }

  /** every lane of the current pipeline, wrapped (the pipeline is new after optIn) */
  const lanes = (): any[] => {
    const p = client.p
    const ls = p ? p.lanes : []
    ls.forEach(wrap)
    return ls
  }

  /** batches waiting in the lanes (behind a request in flight) leave now too */
  const sweep = safe(() => {
    for (const l of lanes()) if (l.b) for (const item of l.q.splice(l.busy ? 1 : 0)) l.b.__astrid(item)
  })

  let hides = 0
  /** from now on every batch leaves at once, in plain JSON with keepalive */
  const leaving = (): void => {
    hiding = true
    // gzip (CompressionStream) finishes after the page is gone: send plain JSON on the way out
    cfg.compression = 'none'
    // still here and visible a while later (a download link, a link that did not navigate, or a
    // slow navigation): back to normal; until then plain keepalive sends cost a little more bytes
    const n = ++hides
    // batches waiting behind a request in flight leave too, as soon as they reach their lane
    const t = setInterval(sweep, 20)
    setTimeout(() => {
      clearInterval(t)
      if (n === hides && visible()) show()
    }, 3000)
  }

  const hide = safe(() => {
    // the worker prepares what was queued in microtasks; catch each batch as it reaches a lane
    let hops = 0
    const again = (): void => {
      sweep()
      if (++hops < 401) queueMicrotask(again)
    }
    if (client.p) leaving(), again(), client.flush(0)
  })

  const drain = safe(() => {
    if (!box) return
    const d = decided()
    if (d === false) return box.clear_()
    // into the lane they came from, after what waits there; nothing once the client is shutting down
    const ls = lanes()
    if (d && client.p) box.claim_((e) => ls.forEach((l) => !client.closed_ && l.name === e.b && (l.put_({ records: e.r, resource: e.s, seq: 0 }), l.go_())))
  })

  const show = (): void => {
    hiding = false
    cfg.compression = gzip
    drain()
  }

  ctx.hide_.push(hide)
  ctx.show_.push(show)
  // a link that will navigate this tab, or a form submitted for real: the page is about to go, so
  // what is queued from now on (the click itself) must not wait for an asynchronous gzip
  const soon = (e: any): void => {
    const form = e.type === 'submit'
    const a = e.target.closest(form ? 'form' : 'a[href]')
    if (a && !e.defaultPrevented && !(a.target && a.target !== '_self') && !/^(#|javascript:)/i.test(a.getAttribute(form ? 'action' : 'href') || '')) leaving()
  }
  on(g, 'click', soon, false)
  on(g, 'submit', soon, false)
  ctx.leave_.push(() => {
    hide()
    if (box) box.release_()
  })
  on(g, 'online', () => {
    failing = false
    // every lane tries now (its backoff is forgotten; the breaker still applies)
    lanes().forEach((l) => l.go_(true))
    drain()
  })
  lanes()
  drain()
  return { ensure_: lanes, stats_: () => ({ ...st, ...(box && box.stats_) }), clear_: () => box && box.clear_() }
}
