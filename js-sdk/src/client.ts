/** TelemetryClient: argument checks, records, enqueue; spans; consent state; flush/shutdown/stats. */
import { aggregator, METRIC_TYPES, type Aggregator } from './aggregation'
import { checkBackends, createBackends } from './backends/index'
import { makeConfig, parseHeaders, type Config, type Options } from './config'
import { browserSignals, decide, isCI, loadChoice, nodeModule, readConsentFile, saveChoice, writeConsentFile, type Decision } from './consent'
import { pipeline, type Pipeline } from './pipeline'
import { createPrivacyEngine } from './privacy/index'
import { exceptionAttributes, newId, newSpanId, now, safeStr, SDK_VERSION, SEVERITY, severityText, type TelemetryRecord } from './records'

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
const NOOP: Span = { traceId: '', spanId: '', setAttribute: () => NOOP, setAttributes: () => NOOP, addEvent: () => NOOP, setStatus: () => NOOP, recordException: () => NOOP, end() {} }

// The current span: AsyncLocalStorage in Node (follows awaits), a plain variable elsewhere (sync code).
const hooks = __NODE__ && g.process && g.process.getBuiltinModule ? g.process.getBuiltinModule('node:async_hooks') : undefined
let als = hooks ? new hooks.AsyncLocalStorage() : undefined
// Node before 20.16 has no getBuiltinModule: the module arrives a tick later
if (__NODE__ && !als && g.process && g.process.versions && g.process.versions.node && typeof g.document !== 'object')
  nodeModule('async_hooks').then((m) => (als = als || new m.AsyncLocalStorage()), () => {})
let cur: TelemetryRecord | undefined
const current = (): TelemetryRecord | undefined => (als ? als.getStore() : cur)
const within = <T>(r: TelemetryRecord, fn: () => T): T => {
  if (als) return als.run(r, fn)
  const prev = cur
  cur = r
  try {
    return fn()
  } finally {
    cur = prev
  }
}

const nameOf = (v: unknown): string | undefined => (typeof v === 'string' && v ? (v.length > MAX_NAME ? v.slice(0, MAX_NAME) : v) : undefined)
const copy = (a: unknown): Record<string, unknown> => (a && typeof a === 'object' ? { ...(a as any) } : {})
const isNode = (): boolean => __NODE__ && !!(g.process && g.process.versions && g.process.versions.node) && typeof g.document !== 'object'

/** Resource attributes every client has (no host name, IP or user name), then the environment, then the option. */
const resourceOf = (cfg: Config): Record<string, unknown> => {
  const node = isNode()
  const p = g.process
  const a: Record<string, unknown> = {
    'service.name': cfg.projectName,
    'telemetry.sdk.name': 'astrid',
    'telemetry.sdk.language': node ? 'nodejs' : 'webjs',
    'telemetry.sdk.version': SDK_VERSION,
  }
  if (__NODE__ && node) {
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

export class TelemetryClient {
  /** the resolved options (constructor argument > environment > default) */
  readonly config: Config
  /** which consent rule decided, and how (enabled null: waiting for optIn/optOut) */
  decision: Decision
  /** settles when the consent decision is final (in Node the consent file is read first) */
  readonly ready: Promise<void> = Promise.resolve()
  private p?: Pipeline
  private agg?: Aggregator
  private priv: any
  private invalid = 0
  private closed = false
  private exitHook?: () => void

  /** Throws TypeError/RangeError for bad options; nothing after construction throws. */
  constructor(options: Options) {
    const cfg = makeConfig(options)
    cfg.given = options
    checkBackends(cfg.backend)
    this.config = cfg
    const sig = isNode() ? undefined : browserSignals()
    this.decision = decide(cfg.projectName, cfg.enabled, cfg.env, sig ? loadChoice(cfg.projectName) : undefined, sig)
    const d = this.decision
    if (cfg.debug) console.error(`astrid: client ${cfg.projectName}: telemetry ${d.enabled ? 'on' : d.enabled === false ? 'off' : 'pending'} (${d.rule})`)
    if (d.enabled !== false) this.start(d.enabled === null)
    else if (__NODE__ && d.rule === 'default' && isNode() && !isCI(cfg.env)) {
      // the last rule is the consent file the Python CLI writes: records wait while it is read
      this.start(true)
      this.ready = readConsentFile(cfg.projectName, cfg.env).then((stored) => this.apply(decide(cfg.projectName, cfg.enabled, cfg.env, stored)))
    }
  }

  private start(held: boolean): void {
    if (this.p || this.closed) return
    const cfg = this.config
    const backends = createBackends(cfg)
    this.priv = createPrivacyEngine({ projectName: cfg.projectName, ...cfg.privacy })
    this.agg = aggregator(cfg.maxMetricSeries)
    this.p = pipeline(cfg, backends, resourceOf(cfg), this.priv, this.agg)
    this.p.held = held
    if (__NODE__ && cfg.installAtexit && isNode() && g.process.once) {
      // flush when the event loop empties, bounded by shutdownTimeout (our timers never hold it)
      this.exitHook = () => void this.shutdown()
      g.process.once('beforeExit', this.exitHook)
    }
  }

  private apply(d: Decision): void {
    try {
      this.decision = d
      if (d.enabled) {
        this.start(false)
        if (this.p) this.p.release()
      } else if (d.enabled === false && this.p) {
        // consent refused or withdrawn: nothing more leaves, queued records included
        const p = this.p
        this.p = undefined
        p.held = true
        p.clear()
        p.shutdown(0).catch(() => {})
      }
    } catch {}
  }

  /** Is telemetry on (records are sent)? False while consent is pending. */
  get enabled(): boolean {
    return !this.closed && !!this.p && !this.p.held
  }

  private bad(): void {
    this.invalid++
  }

  /** Record a named event with attributes. Never throws, never blocks. */
  trackEvent(name: string, attributes?: Attrs): void {
    const p = this.p
    if (!p || this.closed) return
    try {
      const n = nameOf(name)
      if (!n) return this.bad()
      const r: TelemetryRecord = { type: 'event', id: '', name: n, time: now(), attributes: copy(attributes) }
      const c = current()
      if (c) (r.traceId = c.traceId), (r.parentSpanId = c.spanId)
      p.enqueue(r)
    } catch {
      this.bad()
    }
  }

  /** Add a measurement; points are aggregated per name+attributes and export interval. */
  trackMetric(name: string, value: number = 1, options?: { metricType?: string; unit?: string; attributes?: Attrs }): void {
    if (!this.p || this.closed) return
    try {
      const o = options || {}
      const n = nameOf(name)
      const t = o.metricType || 'counter'
      if (!n || METRIC_TYPES.indexOf(t) < 0 || typeof value !== 'number' || !isFinite(value) || (t === 'counter' && value < 0)) return this.bad()
      if (this.agg!.record(n, value, t, copy(o.attributes), typeof o.unit === 'string' ? o.unit : '')) this.p.touch()
    } catch {
      this.bad()
    }
  }

  /** Record a log line (levels trace/debug/info/warning/error/critical, or an OTel severity number). */
  trackLog(message: string, options?: { level?: string | number; attributes?: Attrs }): void {
    const p = this.p
    if (!p || this.closed) return
    try {
      const o = options || {}
      const l = o.level
      const sev = typeof l === 'string' ? SEVERITY[l.toLowerCase()] || 9 : typeof l === 'number' && l >= 1 && l <= 24 ? Math.floor(l) : 9
      const r: TelemetryRecord = { type: 'log', id: '', name: 'log', time: now(), attributes: copy(o.attributes), body: typeof message === 'string' ? message : safeStr(message), severityNumber: sev, severityText: severityText(sev) }
      const c = current()
      if (c) (r.traceId = c.traceId), (r.spanId = c.spanId)
      p.enqueue(r)
    } catch {
      this.bad()
    }
  }

  /** Record an error with exception.* attributes (formatted on the worker, not here). */
  trackError(error: unknown, attributes?: Attrs): void {
    const p = this.p
    if (!p || this.closed) return
    try {
      if (error == null) return this.bad()
      const r: TelemetryRecord = { type: 'error', id: '', name: 'exception', time: now(), attributes: copy(attributes), body: '', severityNumber: 17, severityText: 'ERROR', error }
      const c = current()
      if (c) (r.traceId = c.traceId), (r.spanId = c.spanId)
      p.enqueue(r)
    } catch {
      this.bad()
    }
  }

  /** Start a span (child of the current one); end() it yourself. */
  startSpan(name: string, attributes?: Attrs): Span {
    if (!this.p || this.closed) return NOOP
    try {
      const n = nameOf(name)
      if (!n) return this.bad(), NOOP
      const c = current()
      const r: TelemetryRecord = { type: 'span', id: newId(), name: n, time: now(), attributes: copy(attributes), traceId: c ? c.traceId : newId(), spanId: newSpanId(), status: 'unset', statusMessage: '', events: [], kind: 1 }
      if (c) r.parentSpanId = c.spanId
      return this.handle(r)
    } catch {
      return this.bad(), NOOP
    }
  }

  private handle(r: TelemetryRecord): Span {
    let done = false
    // every method: a no-op after end(), and never throws whatever it is given
    const m =
      (f: (a?: any, b?: any) => void) =>
      (a?: any, b?: any): Span => {
        try {
          if (!done) f(a, b)
        } catch {}
        return s
      }
    const s: Span & { record: TelemetryRecord } = {
      record: r,
      traceId: r.traceId!,
      spanId: r.spanId!,
      setAttribute: m((k, v) => typeof k === 'string' && (r.attributes[k] = v)),
      setAttributes: m((a) => Object.assign(r.attributes, copy(a))),
      addEvent: m((name, a) => r.events!.push({ name: safeStr(name), time: now(), attributes: copy(a) })),
      setStatus: m((st, msg) => /^(ok|error|unset)$/.test(st) && ((r.status = st), (r.statusMessage = msg ? safeStr(msg) : ''))),
      recordException: m((e) => r.events!.push({ name: 'exception', time: now(), attributes: exceptionAttributes(e) })),
      end: m(() => {
        done = true
        r.end = now()
        const p = this.p
        if (p) p.enqueue(r)
      }),
    }
    return s
  }

  /**
   * Time `fn` as a span (sync or async); the span is current inside it and ends when it returns
   * or settles. An error thrown by `fn` marks the span and is thrown on to the caller unchanged.
   */
  span<T>(name: string, attributes: Attrs | ((span: Span) => T), fn?: (span: Span) => T): T {
    if (typeof fn !== 'function') {
      if (typeof attributes !== 'function') return this.bad(), (undefined as any)
      ;(fn = attributes), (attributes = undefined)
    }
    const s = this.startSpan(name, attributes as Attrs) as Span & { record?: TelemetryRecord }
    const fail = (e: unknown): void => {
      try {
        s.recordException(e)
        s.setStatus('error', (e && (e as any).name) || 'Error')
        s.end()
      } catch {}
    }
    let out: any
    try {
      out = s.record ? within(s.record, () => fn!(s)) : fn!(s)
    } catch (e) {
      fail(e)
      throw e
    }
    if (out && typeof out.then === 'function') {
      return out.then(
        (v: T) => (s.end(), v),
        (e: unknown) => {
          fail(e)
          throw e
        },
      )
    }
    s.end()
    return out
  }

  /** Export everything tracked so far; true when all of it was delivered within `timeout` seconds. */
  async flush(timeout?: number): Promise<boolean> {
    try {
      const t = await this.settle(secs(timeout, this.config.shutdownTimeout))
      return this.p ? await this.p.flush(t) : true
    } catch {
      return false
    }
  }

  /** Flush, then stop the worker and close backends. Idempotent; honours `timeout` seconds. */
  async shutdown(timeout?: number): Promise<boolean> {
    this.closed = true
    const p = this.p
    try {
      if (__NODE__ && this.exitHook) g.process.removeListener('beforeExit', this.exitHook)
      const t = await this.settle(secs(timeout, this.config.shutdownTimeout))
      const q = this.p || p
      return q ? await q.shutdown(t) : true
    } catch {
      return false
    }
  }

  /** Wait (at most `t` seconds) for the consent decision; the seconds left. */
  private async settle(t: number): Promise<number> {
    const end = Date.now() + t * 1000
    let timer: any
    await Promise.race([this.ready, new Promise((r) => (timer = setTimeout(r, t * 1000)))])
    clearTimeout(timer)
    return Math.max(0, (end - Date.now()) / 1000)
  }

  /** The end user's choice: remembered (localStorage in browsers, the consent file in Node) and applied now. */
  optIn(): boolean {
    return this.choose(true)
  }
  optOut(): boolean {
    return this.choose(false)
  }
  private choose(granted: boolean): boolean {
    try {
      const cfg = this.config
      const sig = isNode() ? undefined : browserSignals()
      if (sig) saveChoice(cfg.projectName, granted)
      else if (__NODE__) writeConsentFile(cfg.projectName, granted, cfg.env)
      this.apply(decide(cfg.projectName, cfg.enabled, cfg.env, granted, sig))
    } catch {}
    return this.enabled
  }

  /** Counters with the Python SDK's keys: queued, sent, dropped, failed, retries, breaker, failures_by_reason, ... */
  stats(): Record<string, any> {
    try {
      const out: Record<string, any> = this.p
        ? this.p.stats()
        : { enqueued: 0, queued: 0, sent: 0, dropped: 0, failed: 0, retries: 0, rejected: 0, sampled_out: 0, filtered: 0, metric_series_dropped: 0, breaker: 'closed', failures_by_reason: {}, backends: {} }
      out.enabled = this.enabled
      out.invalid = this.invalid
      out.dropped += this.invalid
      out.consent_rule = this.decision.rule
      out.privacy = this.priv && this.priv.stats ? { ...this.priv.stats() } : {}
      return out
    } catch {
      return { enabled: this.enabled }
    }
  }
}

const secs = (t: unknown, d: number): number => (t == null ? d : typeof t === 'number' && t > 0 && isFinite(t) ? t : 0)
