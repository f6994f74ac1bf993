/** The bounded queue, the one async worker that prepares batches, delivery lanes (retry, backoff, breaker), flush/shutdown, stats. */
import type { Aggregator } from './aggregation'
import type { Backend, Config } from './config'
import { finalize, newId, type TelemetryRecord } from './records'
import { backoff, breaker, retry, type ExportResult } from './resilience'
import { unref } from './transport'

interface Item {
  records: TelemetryRecord[]
  resource: Record<string, unknown>
  seq: number
}
interface Lane {
  b: Backend
  name: string
  q: Item[]
  busy: boolean
  attempt: number
  next: number
  timer: any
  br: ReturnType<typeof breaker>
  c: { sent: number; failed: number; dropped: number; retries: number; rejected: number; batches: number; failures_by_reason: Record<string, number> }
}
export type Pipeline = ReturnType<typeof pipeline>

const ms = (): number => Date.now()
const count = (m: Record<string, number>, k = 'unknown'): void => {
  m[k] = (m[k] || 0) + 1
}
const isThen = (v: any): v is Promise<any> => !!v && typeof v.then === 'function'

export const pipeline = (cfg: Config, backends: Backend[], resource: Record<string, unknown>, privacy: any, agg: Aggregator) => {
  const bs = cfg.batchSize
  const max = cfg.maxQueueSize
  let q: TelemetryRecord[] = []
  const s = { enqueued: 0, dropped: 0, sampled_out: 0, filtered: 0, errors: 0, loss: 0 }
  let batchNo = 0
  let handed = 0
  let flushGen = 0
  let flushedGen = 0
  let flushedNo = 0
  let lostAtFlush = 0
  let started = false
  let stopping = false
  let stopped = false
  let abandonAt = 0
  /** shutdown is over: lanes send nothing more */
  let dead = false
  let nextCollect = ms() + cfg.flushInterval * 1000
  let wakeFn: (() => void) | undefined
  let wakeTimer: any
  const waiters: (() => boolean)[] = []
  const lanes: Lane[] = backends.map((b) => ({
    b,
    name: String(b.name || 'backend'),
    q: [],
    busy: false,
    attempt: 0,
    next: 0,
    timer: 0,
    br: breaker(cfg.breakerThreshold, cfg.breakerCooldown),
    c: { sent: 0, failed: 0, dropped: 0, retries: 0, rejected: 0, batches: 0, failures_by_reason: {} },
  }))

  const notify = (): void => {
    for (let i = waiters.length; i--; ) if (waiters[i]()) waiters.splice(i, 1)
  }
  /** Resolve true when `cond` holds, false after `sec` seconds (a ref'd timer: the caller is waiting). */
  const until = (cond: () => boolean, sec: number): Promise<boolean> =>
    new Promise((res) => {
      if (cond()) return res(true)
      const t = setTimeout(() => {
        const i = waiters.indexOf(w)
        if (i >= 0) waiters.splice(i, 1)
        res(cond())
      }, Math.max(0, sec) * 1000)
      const w = (): boolean => (cond() ? (clearTimeout(t), res(true), true) : false)
      waiters.push(w)
    })
  const wake = (): void => {
    clearTimeout(wakeTimer)
    const f = wakeFn
    wakeFn = undefined
    if (f) f()
  }
  const sleep = (msec: number): Promise<void> =>
    new Promise((r) => {
      wakeFn = r
      wakeTimer = unref(setTimeout(wake, Math.max(0, msec)))
    })

  // ---------------------------------------------------------------- caller side

  const p = {
    /** records wait (consent pending) until release() */
    held: false,
    enqueue(r: TelemetryRecord): void {
      if (stopped || stopping) return void s.dropped++
      if (q.length >= max) {
        q.shift()
        s.dropped++
      }
      q.push(r)
      s.enqueued++
      if (!started) start()
      else if (q.length === bs) wake()
    },
    /** a metric was recorded: make sure the worker runs */
    touch(): void {
      if (!started) start()
    },
    release(): void {
      p.held = false
      wake()
    },
    /** consent withdrawn: drop what waits */
    clear(): void {
      q = []
    },
    /** Browser outbox: hand records prepared by an earlier page (sanitized) to the lane named `lane` (all when absent). */
    resend(records: TelemetryRecord[], res: Record<string, unknown>, lane?: string): void {
      if (stopped || stopping) return
      for (const l of lanes) if (!lane || l.name === lane) submit(l, { records: records.slice(), resource: res, seq: handed }), pump(l)
    },
    /** The network is back (browser `online`): retry now instead of after the backoff (the breaker still applies). */
    retryNow(): void {
      for (const l of lanes) (l.next = 0), pump(l)
    },
    flush,
    shutdown,
    stats,
    lanes,
  }

  const start = (): void => {
    if (started || stopped) return
    started = true
    run().catch(() => {})
  }

  // ---------------------------------------------------------------- worker

  const run = async (): Promise<void> => {
    for (;;) {
      if (stopped) return
      const forced = flushGen > flushedGen || stopping
      if (!p.held && (q.length >= bs || forced || ms() >= nextCollect)) {
        try {
          await cycle(forced)
        } catch {}
      } else if (forced && p.held) flushedGen = flushGen
      if (stopping && (!q.length || p.held)) {
        stopped = true
        notify()
        return
      }
      notify()
      // held (consent pending): nothing is due until release(), a flush or shutdown wakes the loop
      if (!(flushGen > flushedGen) && !(q.length >= bs && !p.held)) await sleep(p.held ? 1e9 : nextCollect - ms())
    }
  }

  const cycle = async (forced: boolean): Promise<void> => {
    const gen = flushGen
    const due = ms() >= nextCollect
    let budget = q.length
    while (budget > 0 && !p.held) {
      const n = Math.min(q.length, budget)
      if (!n || (n < bs && !due && !forced)) break
      const take = q.splice(0, Math.min(n, bs))
      budget -= take.length
      await hand(take)
    }
    if (due || forced) {
      nextCollect = ms() + cfg.flushInterval * 1000
      const m = agg.collect()
      for (let i = 0; i < m.length; i += bs) await hand(m.slice(i, i + bs))
    }
    if (gen > flushedGen) {
      flushedGen = gen
      flushedNo = handed
    }
  }

  let cleanResource: Record<string, unknown> | null = null
  const hand = async (records: TelemetryRecord[]): Promise<void> => {
    let out: TelemetryRecord[] = []
    for (const r of records) {
      // sampling (events and spans only), then ids and error formatting on this side of the queue
      if (cfg.sampleRate < 1 && (r.type === 'event' || r.type === 'span') && Math.random() >= cfg.sampleRate) s.sampled_out++
      else {
        if (!r.id) r.id = newId()
        out.push(finalize(r))
      }
    }
    if (privacy && out.length) {
      // the privacy engine gives sanitized copies; what it cannot sanitize never leaves
      const n = out.length
      try {
        out = await privacy.sanitizeBatch(out)
      } catch {
        out = []
      }
      s.filtered += n - out.length
    }
    const hook = cfg.beforeSend
    if (hook) {
      const kept: TelemetryRecord[] = []
      for (const r of out) {
        let x: any
        try {
          x = hook(r)
          if (isThen(x)) x = await x
        } catch {
          // a broken hook must not let unfiltered data out, nor stop the worker
          s.errors++
          continue
        }
        if (x == null || x === false) s.filtered++
        else if (typeof x !== 'object' || typeof x.type !== 'string') s.errors++
        else kept.push(x)
      }
      out = kept
    }
    if (privacy && !cleanResource) {
      // the resource passes the privacy engine too, once (as Python's client does)
      try {
        cleanResource = await privacy.sanitizeAttributes(resource)
      } catch {}
    }
    const res = cleanResource || (privacy ? {} : resource)
    batchNo++
    if (out.length) for (const l of lanes) submit(l, { records: lanes.length > 1 ? out.slice() : out, resource: res, seq: batchNo })
    handed = batchNo
    for (const l of lanes) pump(l)
  }

  // ---------------------------------------------------------------- delivery lanes

  const pendingOf = (l: Lane): number => l.q.reduce((n, b) => n + b.records.length, 0)

  const submit = (l: Lane, b: Item): void => {
    l.q.push(b)
    // a slow or dead backend holds at most max records; the oldest batches go first
    let n = pendingOf(l)
    while (n > max && l.q.length > 1) {
      const old = l.q.splice(l.busy ? 1 : 0, 1)[0]
      n -= old.records.length
      l.c.dropped += old.records.length
      s.loss++
    }
  }

  const pump = async (l: Lane): Promise<void> => {
    if (l.busy) return
    l.busy = true
    try {
      while (l.q.length && !dead) {
        const wait = Math.max(l.next - ms(), l.br.wait() * 1000)
        if (wait > 0) {
          clearTimeout(l.timer)
          l.timer = unref(setTimeout(() => pump(l), wait))
          break
        }
        if (!l.br.allow()) break
        await attempt(l, l.q[0])
      }
    } catch {
    } finally {
      l.busy = false
      notify()
    }
  }

  const attempt = async (l: Lane, b: Item): Promise<void> => {
    let timeout = cfg.timeout
    if (abandonAt) timeout = Math.max(0.001, Math.min(timeout, (abandonAt - ms()) / 1000))
    const before = b.records.length
    const batch = { records: b.records, resource: b.resource }
    let r: any
    try {
      r = l.b.export(batch, timeout)
      if (isThen(r)) r = await r
    } catch (e: any) {
      r = retry('exception:' + ((e && e.name) || 'Error'))
    }
    if (r == null || r === true) r = { ok: true }
    else if (r === false || typeof r !== 'object') r = retry('bad_result')
    const res = r as ExportResult
    if (cfg.debug && !res.ok) console.error(`astrid: backend ${l.name}: ${res.reason}${res.retryable ? ', will retry' : ', not retried'}`)
    b.records = batch.records // a backend that delivered part of a batch keeps only the rest
    const c = l.c
    c.sent += Math.max(0, before - b.records.length)
    const done = (): void => {
      if (l.q[0] === b) l.q.shift()
      l.attempt = 0
      l.next = 0
    }
    if (res.ok) {
      const rej = res.rejected || 0
      l.br.ok()
      c.sent += Math.max(0, b.records.length - rej)
      c.rejected += rej
      c.failed += rej
      if (rej) count(c.failures_by_reason, 'rejected'), s.loss++
      c.batches++
      done()
    } else if (res.split && b.records.length > 1) {
      // the receiver answered, refusing the size: send the halves right away
      l.br.ok()
      const h = b.records.length >> 1
      if (l.q[0] === b) l.q.splice(0, 1, { ...b, records: b.records.slice(0, h) }, { ...b, records: b.records.slice(h) })
      count(c.failures_by_reason, res.reason || 'payload_too_large')
    } else if (res.retryable && !res.split) {
      l.br.fail()
      c.retries++
      count(c.failures_by_reason, res.reason)
      let d = backoff(l.attempt, cfg.backoffBase, cfg.backoffMax)
      if (res.retryAfter != null) d = Math.max(d, res.retryAfter)
      l.attempt++
      l.next = ms() + d * 1000
    } else {
      // the server is alive but will never take this batch
      l.br.ok()
      c.failed += b.records.length
      count(c.failures_by_reason, res.reason)
      s.loss++
      done()
    }
  }

  // ---------------------------------------------------------------- flush / shutdown

  const progress = (): number => Math.min(handed, ...lanes.map((l) => (l.q.length ? l.q[0].seq - 1 : handed)))

  async function flush(timeout: number): Promise<boolean> {
    if (!started || stopped) return !q.length && agg.size() === 0 && !lanes.some((l) => l.q.length)
    if (p.held) return !q.length
    const gen = ++flushGen
    wake()
    if (!(await until(() => flushedGen >= gen && progress() >= flushedNo, timeout))) return false
    // anything lost since the previous completed flush was enqueued before this call
    const lost = s.loss + s.dropped
    const clean = lost === lostAtFlush
    lostAtFlush = lost
    return clean
  }

  async function shutdown(timeout: number): Promise<boolean> {
    const deadline = ms() + Math.max(0, timeout) * 1000
    const already = stopping
    stopping = true
    if (already) return until(() => stopped, (deadline - ms()) / 1000)
    let ok = true
    if (started) {
      abandonAt = deadline
      ok = await flush(timeout)
      wake()
      ok = (await until(() => stopped, (deadline - ms()) / 1000)) && ok
    }
    stopped = dead = true
    wake()
    for (const l of lanes) {
      clearTimeout(l.timer)
      // shutdown deadline: what is still pending is lost (counted)
      const left = l.q.splice(l.busy ? 1 : 0)
      const n = left.reduce((a, b) => a + b.records.length, 0)
      if (n) (l.c.dropped += n), count(l.c.failures_by_reason, 'shutdown_deadline'), s.loss++, (ok = false)
      try {
        const r = l.b.shutdown && l.b.shutdown(Math.max(0, (deadline - ms()) / 1000))
        if (isThen(r)) await Promise.race([r.catch(() => {}), until(() => false, (deadline - ms()) / 1000)])
      } catch {}
    }
    notify()
    return ok
  }

  function stats(): Record<string, any> {
    const bk: Record<string, any> = {}
    const fails: Record<string, number> = {}
    let sent = 0, dropped = s.dropped + s.errors, failed = 0, retries = 0, rejected = 0, queued = q.length
    const states: string[] = []
    for (const l of lanes) {
      const c = l.c
      const pend = pendingOf(l)
      const st = l.br.state()
      bk[l.name] = { ...c, pending: pend, breaker: st, failures_by_reason: { ...c.failures_by_reason } }
      for (const k in c.failures_by_reason) fails[k] = (fails[k] || 0) + c.failures_by_reason[k]
      sent += c.sent
      dropped += c.dropped
      failed += c.failed
      retries += c.retries
      rejected += c.rejected
      queued += pend
      states.push(st)
    }
    if (s.dropped) fails.queue_full = (fails.queue_full || 0) + s.dropped
    return {
      enqueued: s.enqueued,
      queued,
      sent,
      dropped,
      failed,
      retries,
      rejected,
      sampled_out: s.sampled_out,
      filtered: s.filtered,
      metric_series_dropped: agg.dropped,
      breaker: states.indexOf('open') >= 0 ? 'open' : states.indexOf('half_open') >= 0 ? 'half_open' : 'closed',
      failures_by_reason: fails,
      backends: bk,
    }
  }

  return p
}
