/**
 * Delivery that survives the page: on page hide the queue is flushed with fetch keepalive (within
 * the browser's 64 KB budget, splitting batches to fit) or navigator.sendBeacon; what cannot be
 * delivered goes to the outbox and is sent again after a reload or when the browser is online.
 */
import { encodeDocument } from '../backends/http'
import { signalOf } from '../backends/otlp'
import { encodeLogs, encodeMetrics, encodeTraces } from '../encoding/index'
import { doc, g, on, safe, win } from './env'
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


export const delivery = (client: any, me: string, o: DeliveryOptions) => {
  const cfg = client.config
  const box = o.outbox === false ? undefined : outbox(cfg.projectName, me)
  const st = { keepalive_batches: 0, split: 0, beacon: 0, deferred: 0 }
  const gzip = cfg.compression
  let hiding = false
  /** keepalive bytes in flight */
  let inflight = 0
  let failing = false
  const pipe = (): any => client.p
  const consented = (): boolean => !!client.decision && client.decision.enabled === true

  /** fetch keepalive on the way out; sendBeacon where keepalive does not exist */
  const canKeepalive = (): boolean => !!g.Request && 'keepalive' in g.Request.prototype

  const wrap = (l: any): void => {
    const b = l.b
    if (!b || b.__astrid) return
    const orig = b.export.bind(b)
    const lane = l.name
    /** the requests the backend makes for this batch, [url, body], uncompressed as on the way out */
    const bodies = (batch: any): string[][] => {
      if (b.name === 'http') return [[b.endpoint, encodeDocument(batch.records, batch.resource)]]
      if (b.name !== 'otlp') return [['', JSON.stringify(batch.records)]]
      const by: Record<string, any[]> = {}
      for (const r of batch.records) (by[signalOf(r.type, cfg.eventsAs)] ||= []).push(r)
      return Object.keys(by).map((sig) => [b.endpoint + '/v1/' + sig, JSON.stringify(ENCODE[sig](by[sig], batch.resource))])
    }
    /** custom headers (auth) cannot ride a beacon; only the built-in JSON backends know their URLs */
    const beacon = (reqs: string[][]): boolean => {
      const nav = g.navigator
      return !Object.keys(cfg.headers || {}).length && !!nav.sendBeacon && reqs.every(([url, body]) => url && nav.sendBeacon(url, new g.Blob([body], { type: 'text/plain' })))
    }
    const later = (batch: any): void => {
      if (box) box.save(batch.records, batch.resource, lane, '', true)
    }
    /** send now, on the way out: the request is started before this returns */
    const out = (batch: any): void => {
      const n = batch.records.length
      if (failing || g.navigator.onLine === false) return later(batch)
      let reqs: string[][]
      try {
        reqs = bodies(batch)
      } catch {
        return later(batch)
      }
      let bytes = 0
      for (const r of reqs) bytes += r[1].length
      if (bytes + inflight > KEEPALIVE_BUDGET) {
        if (n > 1 && bytes > KEEPALIVE_BUDGET - inflight) {
          // halves that fit go now; what does not fit waits in the outbox for the next page
          st.split++
          const h = n >> 1
          out({ records: batch.records.slice(0, h), resource: batch.resource })
          out({ records: batch.records.slice(h), resource: batch.resource })
          return
        }
        st.deferred += n
        return later(batch)
      }
      if (!canKeepalive() && o.beacon && beacon(reqs)) return void st.beacon++
      st.keepalive_batches++
      inflight += bytes
      const copy = { records: batch.records.slice(), resource: batch.resource }
      Promise.resolve(orig(copy, cfg.timeout))
        .then((r: any) => {
          // the page lived on (a hidden tab): keep what failed for later
          if (r && r.ok === false && box) box.save(copy.records, copy.resource, lane, '')
        })
        .catch(() => {})
        .then(() => (inflight -= bytes))
    }
    b.export = async (batch: any, timeout: number): Promise<any> => {
      if (hiding) {
        out(batch)
        return { ok: true }
      }
      const before = batch.records.slice()
      const r = await orig(batch, timeout)
      if (box && r) {
        const left = new Set(batch.records.map((x: any) => x.id))
        const done = new Set<string>()
        for (const x of before) if (r.ok !== false || !left.has(x.id)) done.add(x.id)
        if (r.ok === false && r.retryable) {
          failing = true
          box.save(batch.records, batch.resource, lane, me)
          // the batches queued behind this one wait as long: keep them too
          for (const item of l.q) if (item.records !== batch.records) box.save(item.records, item.resource, lane, me)
        } else failing = false
        if (done.size) box.remove(done)
      }
      return r
    }
    b.__astrid = out
  }

  /** make sure every lane of the current pipeline is wrapped (the pipeline is new after optIn) */
  const ensure = (): any => {
    const p = pipe()
    if (p) for (const l of p.lanes) wrap(l)
    return p
  }

  /** batches waiting in the lanes (behind a request in flight) leave now too */
  const sweep = (): void => {
    const p = pipe()
    if (!p) return
    for (const l of p.lanes) {
      const keep = l.busy ? 1 : 0
      for (const item of l.q.splice(keep)) l.b.__astrid && l.b.__astrid(item)
    }
  }

  let hides = 0
  /** from now on every batch leaves at once, in plain JSON with keepalive */
  const leaving = (): void => {
    hiding = true
    // gzip (CompressionStream) finishes after the page is gone: send plain JSON on the way out
    cfg.compression = 'none'
    // still here and visible a while later (a download link, a link that did not navigate, or a
    // slow navigation): back to normal; until then plain keepalive sends cost a little more bytes
    const n = ++hides
    setTimeout(() => n === hides && doc.visibilityState === 'visible' && show(), 3000)
    // batches waiting behind a request in flight leave too, as soon as they reach their lane
    const t = setInterval(sweep, 20)
    setTimeout(() => clearInterval(t), 3000)
  }

  const hide = safe(() => {
    const p = ensure()
    if (!p) return
    leaving()
    sweep()
    client.flush(0)
    // the worker prepares what was queued in microtasks; catch each batch as it reaches a lane
    let hops = 0
    const again = (): void => {
      sweep()
      if (++hops < 400) queueMicrotask(again)
    }
    queueMicrotask(again)
  })

  const drain = safe(() => {
    if (!box) return
    if (client.decision && client.decision.enabled === false) return box.clear()
    const p = ensure()
    if (!p || !consented()) return
    box.claim((e) => p.resend(e.r, e.s, e.b))
  })

  const show = (): void => {
    hiding = false
    cfg.compression = gzip
    drain()
  }

  on(doc, 'visibilitychange', () => (doc.visibilityState === 'hidden' ? hide() : show()))
  // a link that will navigate this tab, or a form submitted for real: the page is about to go, so
  // what is queued from now on (the click itself) must not wait for an asynchronous gzip
  const soon = (e: any): void => {
    const a = e.type === 'submit' ? e.target : e.target && e.target.closest && e.target.closest('a[href]')
    if (a && !e.defaultPrevented && !(a.target && a.target !== '_self') && !/^(#|javascript:)/i.test(a.getAttribute('href') || a.getAttribute('action') || '')) leaving()
  }
  on(win, 'click', soon, false)
  on(win, 'submit', soon, false)
  on(win, 'pagehide', () => {
    hide()
    if (box) box.release()
  })
  on(win, 'pageshow', (e: any) => e.persisted && show())
  on(win, 'online', () => {
    failing = false
    const p = ensure()
    if (p) p.retryNow()
    drain()
  })
  ensure()
  drain()
  return { ensure, stats: () => ({ ...st, ...(box ? box.stats : {}) }), clear: () => box && box.clear() }
}
