/** The bounded queue, the one async worker that prepares batches, delivery lanes (retry, backoff, breaker), flush/shutdown, stats. */
import type { Aggregator } from './aggregation'
import type { Backend, Config } from './config'
import { finalize, newId, sampleCut, type TelemetryRecord } from './records'
import { backoff, breaker, retry } from './resilience'
import { unref } from './transport'

/** A batch in a lane; `seq` is the worker's batch number (flush waits for its own). */
interface Item {
  records: TelemetryRecord[]
  resource: Record<string, unknown>
  seq: number
}
/** One backend's delivery lane (retry, backoff, breaker). browser/ reads b, name, q and busy, and calls put_ and go_ (outbox, `online`). */
export interface Lane {
  b: Backend
  name: string
  q: Item[]
  busy: boolean
  /** queue a batch (bounded: the oldest batches go first) */
  put_(it: Item): void
  /** drop (and count) the waiting batch at index `i` (memory bound) */
  evict_(i: number): void
  /** send what waits; `now`: without waiting for the backoff (the breaker still applies) */
  go_(now?: boolean): Promise<void>
  /** this backend's stats() entry */
  st_(): Record<string, any>
  /** shutdown: drop (and count) what waits, then shut the backend down within the deadline; the count dropped */
  end_(deadline: number): Promise<number>
}
export type Pipeline = ReturnType<typeof pipeline>

/** read at each call: a test clock installed after load (page.clock) still counts */
const ms = (): number => Date.now()
const add = (m: Record<string, number>, k = 'unknown', n = 1): void => {
  m[k] = (m[k] || 0) + n
}
const isThen = (v: any): v is Promise<any> => !!v && typeof v.then === 'function'
const count = (items: Item[]): number => items.reduce((n, b) => n + b.records.length, 0)
/** the stats() totals summed over the backends */
const SUMS = 'sent dropped failed retries rejected'.split(' ')

export const pipeline = (cfg: Config, backends: Backend[], resource: Record<string, unknown>, privacy: any, agg: Aggregator) => {
  const bs = cfg.batchSize
  const max = cfg.maxQueueSize
  const cut = cfg.sampleRate < 1 && sampleCut(cfg.sampleRate)
  let q: TelemetryRecord[] = []
  /** records waiting in the lanes (recounted by the worker): the queue and the backlogs share maxQueueSize */
  let backlog = 0
  /** the most records held in memory at once (queue_high_water) */
  let high = 0
  let enqueued = 0
  let dropped = 0
  let sampledOut = 0
  let filtered = 0
  let errors = 0
  /** losses after the queue (lanes, shutdown): a flush that saw one reports false */
  let loss = 0
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
  let cleanResource: Record<string, unknown> | null = null
  const waiters: (() => boolean)[] = []
  const secs = (deadline: number): number => Math.max(0, (deadline - ms()) / 1000)

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

  // ---------------------------------------------------------------- delivery lanes

  const lanes: Lane[] = backends.map((b) => {
    const br = breaker(cfg.breakerThreshold, cfg.breakerCooldown)
    const c = { sent: 0, failed: 0, dropped: 0, retries: 0, rejected: 0, batches: 0 }
    const why: Record<string, number> = {}
    const lq: Item[] = []
    let tries = 0
    let next = 0
    let timer: any

    const attempt = async (it: Item): Promise<void> => {
      const timeout = abandonAt ? Math.max(0.001, Math.min(cfg.timeout, (abandonAt - ms()) / 1000)) : cfg.timeout
      const before = it.records.length
      const batch = { records: it.records, resource: it.resource }
      let r: any
      try {
        r = await b.export(batch, timeout)
      } catch (e: any) {
        r = retry('exception:' + ((e && e.name) || 'Error'))
      }
      if (r == null || r === true) r = { ok: true }
      else if (r === false || typeof r !== 'object') r = retry('bad_result')
      if (cfg.debug && !r.ok) console.error('astrid: ' + l.name + ': ' + r.reason)
      // a backend that delivered part of a batch keeps only the rest
      const recs = (it.records = batch.records)
      const n = recs.length
      c.sent += Math.max(0, before - n)
      const done = (): void => {
        if (lq[0] === it) lq.shift()
        tries = next = 0
      }
      if (r.ok) {
        const rej = r.rejected || 0
        br.ok_()
        c.sent += Math.max(0, n - rej)
        c.rejected += rej
        c.failed += rej
        if (rej) add(why, 'rejected'), loss++
        c.batches++
        done()
      } else if (r.split && n > 1) {
        // the receiver answered, refusing the size: send the halves right away
        br.ok_()
        if (lq[0] === it) lq.splice(0, 1, { ...it, records: recs.slice(0, n >> 1) }, { ...it, records: recs.slice(n >> 1) })
        add(why, r.reason || 'payload_too_large')
      } else if (r.retryable && !r.split) {
        br.fail_()
        c.retries++
        add(why, r.reason)
        next = ms() + Math.max(backoff(tries++, cfg.backoffBase, cfg.backoffMax), r.retryAfter || 0) * 1000
      } else {
        // the server is alive but will never take this batch
        br.ok_()
        c.failed += n
        add(why, r.reason)
        loss++
        done()
      }
    }

    const go = async (now?: boolean): Promise<void> => {
      if (now) next = 0
      if (l.busy) return
      l.busy = true
      try {
        while (lq.length && !dead) {
          const wait = Math.max(next - ms(), br.wait_() * 1000)
          if (wait > 0) {
            clearTimeout(timer)
            timer = unref(setTimeout(go, wait))
            break
          }
          if (!br.allow_()) break
          await attempt(lq[0])
          trim()
        }
      } catch {
      } finally {
        l.busy = false
        notify()
      }
    }

    const l: Lane = {
      b,
      name: String(b.name || 'backend'),
      q: lq,
      busy: false,
      put_(it) {
        lq.push(it)
        trim()
      },
      evict_(i) {
        c.dropped += lq.splice(i, 1)[0].records.length
        add(why, 'queue_full')
        loss++
      },
      go_: go,
      st_: () => ({ ...c, failures_by_reason: { ...why }, pending: count(lq), breaker: br.state_() }),
      async end_(deadline) {
        clearTimeout(timer)
        // shutdown deadline: what is still pending is lost (counted)
        const n = count(lq.splice(l.busy ? 1 : 0))
        trim()
        if (n) (c.dropped += n), add(why, 'shutdown_deadline'), loss++
        try {
          const r = b.shutdown && b.shutdown(secs(deadline))
          if (isThen(r)) await Promise.race([r.catch(() => {}), until(() => false, secs(deadline))])
        } catch {}
        return n
      },
    }
    return l
  })

  /**
   * The queue and the lanes' backlogs share maxQueueSize (as Python): recount the backlog and the
   * high-water mark, and drop the oldest waiting lane batches (never one in flight) while they hold
   * more than `room` records.
   */
  const trim = (room = max): void => {
    for (let l: Lane | undefined; ; l.evict_(+l.busy)) {
      backlog = lanes.reduce((n, x) => n + count(x.q), 0)
      l = undefined
      if (q.length + backlog > room) for (const x of lanes) if (x.q[+x.busy] && !(l && l.q[+l.busy].seq < x.q[+x.busy].seq)) l = x
      if (!l) return void (q.length + backlog > high && (high = q.length + backlog))
    }
  }

  // ---------------------------------------------------------------- caller side

  const p = {
    /** records wait (consent pending) until release() */
    held: false,
    enqueue(r: TelemetryRecord): void {
      if (stopping) return void dropped++
      // sampling: a whole trace or none of it, decided by its id (an event outside a span by its own)
      if (cut && (r.type === 'event' || r.type === 'span') && !((r.traceId || r.id || (r.id = newId())).slice(16) < cut)) return void sampledOut++
      if (q.length + backlog >= max) {
        // full: the oldest waiting lane batch goes first, then the oldest queued record
        trim(max - 1)
        if (q.length && q.length + backlog >= max) q.shift(), dropped++
      }
      q.push(r)
      enqueued++
      if (q.length + backlog > high) high = q.length + backlog
      if (!started) start()
      else if (q.length === bs) wake()
    },
    /** a metric was recorded: make sure the worker runs */
    touch(): void {
      start()
    },
    release(): void {
      p.held = false
      wake()
    },
    /** consent withdrawn: drop what waits */
    clear(): void {
      q = []
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

  const hand = async (records: TelemetryRecord[]): Promise<void> => {
    let out: TelemetryRecord[] = []
    for (const r of records) {
      // ids and error formatting on this side of the queue
      if (!r.id) r.id = newId()
      out.push(finalize(r))
    }
    if (privacy && out.length) {
      // the privacy engine gives sanitized copies; what it cannot sanitize never leaves
      const n = out.length
      try {
        out = await privacy.sanitizeBatch(out)
      } catch {
        out = []
      }
      filtered += n - out.length
    }
    const hook = cfg.beforeSend
    if (hook) {
      const kept: TelemetryRecord[] = []
      for (const r of out) {
        let x: any
        try {
          x = hook(r)
          // a synchronous hook costs no microtask (page hide catches batches within a few microtasks)
          if (isThen(x)) x = await x
        } catch {
          // a broken hook must not let unfiltered data out, nor stop the worker
          errors++
          continue
        }
        if (x == null || x === false) filtered++
        else if (typeof x !== 'object' || typeof x.type !== 'string') errors++
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
    if (out.length) for (const l of lanes) l.put_({ records: lanes.length > 1 ? out.slice() : out, resource: res, seq: batchNo })
    handed = batchNo
    for (const l of lanes) l.go_()
  }

  // ---------------------------------------------------------------- flush / shutdown

  const progress = (): number => Math.min(handed, ...lanes.map((l) => (l.q.length ? l.q[0].seq - 1 : handed)))

  async function flush(timeout: number): Promise<boolean> {
    if (!started || stopped) return !q.length && !agg.size() && !lanes.some((l) => l.q.length)
    if (p.held) return !q.length
    const gen = ++flushGen
    wake()
    if (!(await until(() => flushedGen >= gen && progress() >= flushedNo, timeout))) return false
    // anything lost since the previous completed flush was enqueued before this call
    const lost = loss + dropped
    const clean = lost === lostAtFlush
    lostAtFlush = lost
    return clean
  }

  async function shutdown(timeout: number): Promise<boolean> {
    const deadline = ms() + Math.max(0, timeout) * 1000
    const already = stopping
    stopping = true
    if (already) return until(() => stopped, secs(deadline))
    let ok = true
    if (started) {
      abandonAt = deadline
      ok = await flush(timeout)
      wake()
      ok = (await until(() => stopped, secs(deadline))) && ok
    }
    stopped = dead = true
    wake()
    for (const l of lanes) if (await l.end_(deadline)) ok = false
    notify()
    return ok
  }

  function stats(): Record<string, any> {
    const fails: Record<string, number> = {}
    const t: Record<string, any> = {
      enqueued,
      queued: q.length,
      sent: 0,
      dropped: dropped + errors,
      failed: 0,
      retries: 0,
      rejected: 0,
      sampled_out: sampledOut,
      queue_high_water: high,
      max_queue_size: max,
      filtered,
      metric_series_dropped: agg.dropped,
      breaker: 'closed',
      failures_by_reason: fails,
      backends: {},
    }
    for (const l of lanes) {
      const x = (t.backends[l.name] = l.st_())
      for (const k of SUMS) t[k] += x[k]
      t.queued += x.pending
      for (const k in x.failures_by_reason) add(fails, k, x.failures_by_reason[k])
      // the worst state of any backend: open, then half_open
      if (x.breaker === 'open' || t.breaker === 'closed') t.breaker = x.breaker
    }
    if (dropped) add(fails, 'queue_full', dropped)
    return t
  }

  return p
}
