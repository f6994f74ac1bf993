/** TelemetryClient: argument checks, records, enqueue; spans; consent state; flush/shutdown/stats. */
// The privacy engine first: the bundles list modules in import order, and this order gzips smallest (measured).
import { createPrivacyEngine } from './privacy/index'
import { aggregator, METRIC_TYPES, type Aggregator } from './aggregation'
import { checkBackends, createBackends } from './backends/index'
import { makeConfig, parseHeaders, type Backend, type Config, type Options } from './config'
import { browserSignals, decide, isCI, nodeModule, readConsentFile, storedChoice, writeConsentFile, type Decision } from './consent'
import { pipeline, type Pipeline } from './pipeline'
import { exceptionAttributes, newId, newSpanId, now, safeStr, SDK_VERSION, severityOf, severityText, type TelemetryRecord } from './records'

const g: any = globalThis
const MAX_NAME = 256
type Attrs = Record<string, unknown> | undefined

/** A span being timed; every method is a no-op after end() (sealed). */
export interface Span {
  readonly traceId: string
  readonly spanId: string
  setAttribute(key: string, value: unknown): Span
  setAttributes(attributes: Record<string, unknown>): Span
  addEvent(name: string, attributes?: Record<string, unknown>): Span
  setStatus(status: 'ok' | 'error' | 'unset', message?: string): Span
  recordException(error: unknown): Span
  end(): void
}

// The current span: AsyncLocalStorage in Node (follows awaits), a plain variable elsewhere (sync code).
// Node before 20.16 has no getBuiltinModule: require then (astrid.cjs's own; astrid.mjs makes one in its first lines)
const hooks = __NODE__ && g.process ? (() => {
  try {
    return g.process.getBuiltinModule ? g.process.getBuiltinModule('node:async_hooks') : require('node:async_hooks')
  } catch {}
})() : undefined
let als = hooks ? new hooks.AsyncLocalStorage() : undefined
// where neither exists, the module arrives a tick later
if (__NODE__ && !als && g.process && g.process.versions && g.process.versions.node && typeof g.document !== 'object')
  nodeModule('async_hooks').then((m) => (als = als || new m.AsyncLocalStorage()), () => {})
let cur: TelemetryRecord | undefined
const current = (): TelemetryRecord | undefined => (__NODE__ && als ? als.getStore() : cur)
const within = <T>(r: TelemetryRecord, fn: () => T): T => {
  if (__NODE__ && als) return als.run(r, fn)
  const prev = cur
  cur = r
  try {
    return fn()
  } finally {
    cur = prev
  }
}

const nameOf = (v: unknown): string | undefined => (typeof v === 'string' && v ? v.slice(0, MAX_NAME) : undefined)
const copy = (a: unknown): Record<string, unknown> => (a && typeof a === 'object' ? { ...(a as any) } : {})
const isNode = (): boolean => __NODE__ && !!(g.process && g.process.versions && g.process.versions.node) && typeof g.document !== 'object'

/** Resource attributes every client has (no host name, IP or user name), then the environment, then the option. */
const resourceOf = (cfg: Config): Record<string, unknown> => {
  const node = isNode()
  const a: Record<string, unknown> = {
    'service.name': cfg.projectName,
    'telemetry.sdk.name': 'astrid',
    'telemetry.sdk.language': node ? 'nodejs' : 'webjs',
    'telemetry.sdk.version': SDK_VERSION,
  }
  if (__NODE__ && node) {
    const p = g.process
    a['process.runtime.name'] = 'nodejs'
    a['process.runtime.version'] = p.versions.node
    a['os.type'] = p.platform === 'win32' ? 'windows' : p.platform
    a['host.arch'] = ({ x64: 'amd64', ia32: 'x86' } as any)[p.arch] || p.arch
  }
  if (cfg.version) a['service.version'] = cfg.version
  if (__NODE__) {
    Object.assign(a, parseHeaders(cfg.env.OTEL_RESOURCE_ATTRIBUTES || ''))
    const svc = (cfg.env.OTEL_SERVICE_NAME || '').trim()
    if (svc) a['service.name'] = svc
  }
  for (const k in cfg.resourceAttributes) {
    const v = cfg.resourceAttributes[k]
    if (/^(string|number|boolean)$/.test(typeof v)) a[k] = v
  }
  return a
}

/** A span handle over record `r`; `end` enqueues it. Every method: a no-op after end() (sealed: counted by `late`, as Python), never throws. */
const spanOf = (r: TelemetryRecord, end?: (r: TelemetryRecord) => void, late?: () => void): Span => {
  let done = !end
  const m =
    (f: (a?: any, b?: any) => void, again?: 1) =>
    (a?: any, b?: any): Span => {
      try {
        if (!done) f(a, b)
        else if (late && !again) late()
      } catch {}
      return s
    }
  const ev = (name: unknown, a: Record<string, unknown>): void => void r.events!.push({ name: safeStr(name), time: now(), attributes: a })
  const s: Span & { r_?: TelemetryRecord } = {
    r_: end && r,
    traceId: r.traceId!,
    spanId: r.spanId!,
    setAttribute: m((k, v) => typeof k === 'string' && (r.attributes[k] = v)),
    setAttributes: m((a) => Object.assign(r.attributes, copy(a))),
    addEvent: m((name, a) => ev(name, copy(a))),
    setStatus: m((st, msg) => /^(ok|error|unset)$/.test(st) && ((r.status = st), (r.statusMessage = msg ? safeStr(msg) : ''))),
    recordException: m((e) => ev('exception', exceptionAttributes(e))),
    end: m(() => {
      done = true
      r.end = now()
      end!(r)
    }, 1),
  }
  return s
}
/** the span of a client that records nothing (off, shut down, or an invalid name) */
export const NOOP = /* @__PURE__ */ spanOf({ traceId: '', spanId: '' } as TelemetryRecord)

/** the counters of stats() before a pipeline exists (consent off): the pipeline's keys, in its order */
const IDLE = 'enqueued queued sent dropped failed retries rejected sampled_out queue_high_water filtered metric_series_dropped'

export class TelemetryClient {
  /** the resolved options (constructor argument > environment > default) */
  readonly config: Config
  /** which consent rule decided, and how (enabled null: waiting for optIn/optOut) */
  decision: Decision
  /** settles when the consent decision is final (in Node the consent file is read first) */
  readonly ready: Promise<void> = Promise.resolve()
  /** the pipeline while telemetry is on or pending (the browser features reach it) */
  private p?: Pipeline
  /** the privacy engine (the browser features hash with it) */
  private priv: any
  private agg_?: Aggregator
  private invalid_ = 0
  private closed_ = false
  private exit_?: () => void

  /** Throws TypeError/RangeError for bad options; nothing after construction throws. */
  constructor(options: Options) {
    const cfg = makeConfig(options)
    cfg.given = options
    checkBackends(cfg.backend)
    // a secret in a page is shipped to every visitor, consent or not: refused now, not when a user opts in
    if (!__NODE__ && cfg.signingSecret != null) throw new TypeError('signingSecret: a secret shipped to browsers is not a secret')
    this.config = cfg
    const sig = isNode() ? undefined : browserSignals()
    const d = (this.decision = decide(cfg, sig ? storedChoice(cfg.projectName) : undefined, sig))
    if (cfg.debug) console.error(`astrid: ${cfg.projectName}: telemetry ${d.enabled ? 'on' : d.enabled === false ? 'off' : 'pending'} (${d.rule})`)
    if (d.enabled !== false) this.start_(d.enabled === null)
    else if (__NODE__ && d.rule === 'default' && isNode() && !isCI(cfg.env)) {
      // the last rule is the consent file the Python CLI writes: records wait while it is read
      this.start_(true)
      this.ready = readConsentFile(cfg.projectName, cfg.env).then((stored) => this.apply_(decide(cfg, stored)))
    }
  }

  private start_(held: boolean): void {
    if (this.p || this.closed_) return
    const cfg = this.config
    const backends = createBackends(cfg)
    this.priv = createPrivacyEngine({ projectName: cfg.projectName, ...cfg.privacy })
    this.p = pipeline(cfg, backends, resourceOf(cfg), this.priv, (this.agg_ = aggregator(cfg.maxMetricSeries)))
    this.p.held = held
    if (__NODE__ && cfg.installAtexit && isNode() && g.process.once) {
      // flush when the event loop empties, bounded by shutdownTimeout (our timers never hold it)
      g.process.once('beforeExit', (this.exit_ = () => void this.shutdown()))
    }
  }

  private apply_(d: Decision): void {
    try {
      this.decision = d
      const p = this.p
      if (d.enabled) {
        this.start_(false)
        if (this.p) this.p.release()
      } else if (d.enabled === false && p) {
        // consent refused or withdrawn: nothing more leaves, queued records included
        this.p = undefined
        p.held = true
        p.clear()
        p.shutdown(0).catch(() => {})
      }
    } catch {}
  }

  /** The backend objects records go to (empty while telemetry is off), e.g. the `memory` backend's records. */
  get backends(): Backend[] {
    return this.p ? this.p.lanes.map((l) => l.b) : []
  }

  /** Is telemetry on (records are sent)? False while consent is pending. */
  get enabled(): boolean {
    return !this.closed_ && !!this.p && !this.p.held
  }

  /** Run `f` with the pipeline while records are taken (not shut down, consent not refused); a throw (invalid input too) is counted in `invalid`. */
  private do_(f: (p: Pipeline) => void): void {
    const p = this.p
    if (p && !this.closed_)
      try {
        f(p)
      } catch {
        this.invalid_++
      }
  }

  /** Enqueue a record (an empty `name` is invalid); `link` takes the current span's id. */
  private put_(type: TelemetryRecord['type'], name: unknown, more: () => Partial<TelemetryRecord>, link: 'spanId' | 'parentSpanId' = 'spanId'): void {
    this.do_((p) => {
      if (!name) throw 0
      const r = { type, id: '', name, time: now(), ...more() } as TelemetryRecord
      const c = current()
      if (c) (r.traceId = c.traceId), (r[link] = c.spanId)
      p.enqueue(r)
    })
  }

  /** Record a named event with attributes. Never throws, never blocks. */
  trackEvent(name: string, attributes?: Attrs): void {
    this.put_('event', nameOf(name), () => ({ attributes: copy(attributes) }), 'parentSpanId')
  }

  /** Add a measurement; points are aggregated per name+attributes and export interval. */
  trackMetric(name: string, value: number = 1, options?: { metricType?: string; unit?: string; attributes?: Attrs }): void {
    this.do_((p) => {
      const o = options || {}
      const n = nameOf(name)
      const t = o.metricType || 'counter'
      if (!n || METRIC_TYPES.indexOf(t) < 0 || typeof value !== 'number' || !isFinite(value) || (t === 'counter' && value < 0)) throw 0
      if (this.agg_!.record(n, value, t, copy(o.attributes), typeof o.unit === 'string' ? o.unit : '')) p.touch()
    })
  }

  /** Record a log line (levels trace/debug/info/warning/error/critical, or an OTel severity number). */
  trackLog(message: string, options?: { level?: string | number; attributes?: Attrs }): void {
    this.put_('log', 'log', () => {
      const o = options || {}
      const l = o.level
      const sev = typeof l === 'string' ? severityOf(l) : typeof l === 'number' && l >= 1 && l <= 24 && l % 1 == 0 ? l : 9
      return { attributes: copy(o.attributes), body: typeof message === 'string' ? message : safeStr(message), severityNumber: sev, severityText: severityText(sev) }
    })
  }

  /** Record an error with exception.* attributes (formatted on the worker, not here). */
  trackError(error: unknown, attributes?: Attrs): void {
    this.put_('error', error != null && 'exception', () => ({ attributes: copy(attributes), body: '', severityNumber: 17, severityText: 'ERROR', error }))
  }

  /** Start a span (child of the current one); end() it yourself. */
  startSpan(name: string, attributes?: Attrs): Span {
    let s = NOOP
    this.do_(() => {
      const n = nameOf(name)
      if (!n) throw 0
      const c = current()
      const r: TelemetryRecord = { type: 'span', id: newId(), name: n, time: now(), attributes: copy(attributes), traceId: c ? c.traceId : newId(), spanId: newSpanId(), status: 'unset', statusMessage: '', events: [], kind: 1 }
      if (c) r.parentSpanId = c.spanId
      s = spanOf(r, (r) => this.p && this.p.enqueue(r), () => this.invalid_++)
    })
    return s
  }

  /**
   * Time `fn` as a span (sync or async); the span is current inside it and ends when it returns
   * or settles. An error thrown by `fn` marks the span and is thrown on to the caller unchanged.
   */
  span<T>(name: string, attributes: Attrs | ((span: Span) => T), fn?: (span: Span) => T): T {
    if (typeof fn !== 'function') {
      if (typeof attributes !== 'function') return this.invalid_++, (undefined as any)
      ;(fn = attributes), (attributes = undefined)
    }
    const s = this.startSpan(name, attributes as Attrs) as Span & { r_?: TelemetryRecord }
    // a status the code set itself (error and its message) is kept, as in Python
    const fail = (e: unknown): void => void ((s.r_ && s.r_.status === 'error') || s.recordException(e).setStatus('error', (e && (e as any).name) || 'Error'), s.end())
    let out: any
    try {
      out = s.r_ ? within(s.r_, () => fn!(s)) : fn!(s)
    } catch (e) {
      fail(e)
      throw e
    }
    if (out && typeof out.then === 'function') {
      // any thenable: settled the way await would
      return Promise.resolve(out).then(
        (v: T) => (s.end(), v),
        (e: unknown) => {
          fail(e)
          throw e
        },
      ) as any
    }
    s.end()
    return out
  }

  /** Export everything tracked so far; true when all of it was delivered within `timeout` seconds. */
  flush(timeout?: number): Promise<boolean> {
    return this.wait_(timeout, (p, t) => p.flush(t))
  }

  /** Flush, then stop the worker and close backends. Idempotent; honours `timeout` seconds. */
  shutdown(timeout?: number): Promise<boolean> {
    this.closed_ = true
    if (__NODE__ && this.exit_)
      try {
        g.process.removeListener('beforeExit', this.exit_)
      } catch {}
    return this.wait_(timeout, (p, t) => p.shutdown(t), this.p)
  }

  /** After the consent decision (within `timeout`), `f` on the pipeline then (else on `p`) with the seconds left; true without one. */
  private async wait_(timeout: unknown, f: (p: Pipeline, t: number) => Promise<boolean>, p?: Pipeline): Promise<boolean> {
    try {
      const t = await this.settle_(timeout)
      const q = this.p || p
      return q ? await f(q, t) : true
    } catch {
      return false
    }
  }

  /** Wait (at most `timeout` seconds, default shutdownTimeout) for the consent decision; the seconds left. */
  private async settle_(timeout: unknown): Promise<number> {
    const t = timeout == null ? this.config.shutdownTimeout : typeof timeout === 'number' && timeout > 0 && isFinite(timeout) ? timeout : 0
    // only Node reads a consent file first; in browsers the decision is final at construction
    if (!__NODE__) return t
    const end = Date.now() + t * 1000
    let timer: any
    await Promise.race([this.ready, new Promise((r) => (timer = setTimeout(r, t * 1000)))])
    clearTimeout(timer)
    return Math.max(0, (end - Date.now()) / 1000)
  }

  /** The end user's choice: remembered (localStorage in browsers, the consent file in Node) and applied now. */
  optIn(): boolean {
    return this.choose_(true)
  }
  optOut(): boolean {
    return this.choose_(false)
  }
  private choose_(granted: boolean): boolean {
    try {
      const cfg = this.config
      const sig = isNode() ? undefined : browserSignals()
      // under Do Not Track or Global Privacy Control nothing is stored on the device, a choice included
      if (sig) sig.dnt || sig.gpc || storedChoice(cfg.projectName, granted)
      else if (__NODE__) writeConsentFile(cfg.projectName, granted, cfg.env)
      this.apply_(decide(cfg, granted, sig))
    } catch {}
    return this.enabled
  }

  /** Counters with the Python SDK's keys: queued, sent, dropped, failed, retries, breaker, failures_by_reason, ... */
  stats(): Record<string, any> {
    try {
      let out: Record<string, any> = {}
      if (this.p) out = this.p.stats()
      else {
        for (const k of IDLE.split(' ')) out[k] = 0
        Object.assign(out, { max_queue_size: this.config.maxQueueSize, breaker: 'closed', failures_by_reason: {}, backends: {} })
      }
      out.enabled = this.enabled
      out.invalid = this.invalid_
      out.dropped += this.invalid_
      out.consent_rule = this.decision.rule
      out.privacy = this.priv && this.priv.stats ? { ...this.priv.stats() } : {}
      return out
    } catch {
      return { enabled: this.enabled }
    }
  }
}
