/** Telemetry records (event, span, metric point, log, error) as plain objects, ids and clocks. */

/**
 * One record. Times are epoch milliseconds as numbers (with sub-millisecond digits where the
 * platform has them) or, from test vectors, nanoseconds as a decimal string: `nanos()` turns
 * either into the OTLP `timeUnixNano` string. Ids are lower-case hex (id/traceId 32, spanId 16).
 */
export interface TelemetryRecord {
  type: 'event' | 'span' | 'metric' | 'log' | 'error'
  id: string
  name: string
  time: number | string
  attributes: Record<string, unknown>
  traceId?: string
  spanId?: string
  parentSpanId?: string
  // span
  end?: number | string
  status?: 'unset' | 'ok' | 'error'
  statusMessage?: string
  events?: { name: string; time: number | string; attributes: Record<string, unknown> }[]
  kind?: number
  // log and error
  body?: string
  severityNumber?: number
  severityText?: string
  /** error: the thrown value, turned into exception.* attributes on the worker (finalize) */
  error?: unknown
  // metric
  metricType?: 'counter' | 'gauge' | 'histogram'
  start?: number | string
  value?: number
  count?: number
  sum?: number
  min?: number
  max?: number
  bounds?: number[]
  bucketCounts?: number[]
  unit?: string
  description?: string
}

export const SDK_VERSION = '0.1.0'

const SEV_TEXT = 'TRACE DEBUG INFO WARN ERROR FATAL'.split(' ')
/** The OTLP severity number of a level name (trace debug info notice warn warning error critical fatal); 9 (info) when unknown. */
export const severityOf = (level: string): number => {
  const l = level.toUpperCase()
  const i = SEV_TEXT.indexOf(l)
  // upper-case keys: nothing of Object.prototype answers
  return i >= 0 ? i * 4 + 1 : ({ NOTICE: 10, WARNING: 13, CRITICAL: 21 } as Record<string, number>)[l] || 9
}
/** OTLP's short name of a severity number (13 → WARN, 14 → WARN2, 24 → FATAL4); '' outside 1-24, as Python's. */
export const severityText = (n: number): string => (n > 0 && n < 25 && n % 1 == 0 ? SEV_TEXT[(n - 1) >> 2] + ((n - 1) % 4 ? ((n - 1) % 4) + 1 : '') : '')

const g: any = globalThis
const buf = new Uint8Array(16)
/** Node 18 has no global crypto: node:crypto's webcrypto, by require (see client.ts), else a tick later (Math.random until then) */
let rnd: any
if (__NODE__ && !g.crypto && g.process && g.process.versions && g.process.versions.node) {
  try {
    rnd = require('node:crypto').webcrypto
  } catch {
    import(/* webpackIgnore: true */ 'node:' + 'crypto').then((m: any) => (rnd = m.webcrypto), () => {})
  }
}

/** `n` random bytes as lower-case hex, never all zeros (crypto where present). */
export const hex = (n: number): string => {
  let s = ''
  const c = g.crypto || rnd
  if (c && c.getRandomValues) c.getRandomValues(buf)
  else for (let i = 0; i < 16; i++) buf[i] = (Math.random() * 256) | 0
  for (let i = 0; i < n; i++) s += (buf[i] + 256).toString(16).slice(1)
  return /[^0]/.test(s) ? s : s.slice(1) + '1'
}
export const newId = (): string => hex(16)
/**
 * The sampling cut of `rate` (below 1): a trace is kept when the low 64 bits of its id, as 16 hex digits,
 * sort below it, as OpenTelemetry's TraceIdRatioBased sampler and the Python SDK decide (exact: an
 * integer-valued double prints every hex digit).
 */
export const sampleCut = (rate: number): string => Math.round(rate * 2 ** 64).toString(16).padStart(16, '0')
export const newSpanId = (): string => hex(8)

/** An event's span id when exported as a span: the low 64 bits of its id. */
export const eventSpanId = (id: string): string => {
  const s = id.slice(-16).padStart(16, '0')
  return /[^0]/.test(s) ? s : '0000000000000001'
}

const perf = g.performance
let base = perf && perf.now ? Date.now() - perf.now() : 0
let calls = 0
/**
 * Epoch milliseconds, with microseconds where the platform's clock has them. The monotonic clock
 * stops while a laptop sleeps and drifts from the wall clock: it is re-anchored to Date.now()
 * every 256 calls when they differ by more than a second.
 */
export const now: () => number = base
  ? () => {
      const t = base + perf.now()
      if (++calls & 255) return t
      const d = Date.now()
      if (Math.abs(t - d) < 1000) return t
      base = d - perf.now()
      return d
    }
  : Date.now

/** OTLP `timeUnixNano`: epoch ms (number) or ns (decimal string) → ns as a decimal string. */
export const nanos = (t: number | string | undefined): string => {
  if (typeof t === 'string') return t
  if (!t || !(t > 0)) return '0'
  const ms = Math.floor(t)
  const frac = Math.round((t - ms) * 1e6)
  return frac >= 1e6 ? String(ms + 1) + '000000' : String(ms) + String(frac).padStart(6, '0')
}

/** RFC 3339 UTC with nanoseconds (the generic HTTP format's timestamps). */
export const rfc3339 = (t: number | string | undefined): string => {
  const ns = nanos(t).padStart(10, '0')
  const sec = ns.slice(0, -9)
  return new Date(+sec * 1000).toISOString().slice(0, 19) + '.' + ns.slice(-9) + 'Z'
}

/** OpenTelemetry semantic-convention attributes for a thrown value (never throws). */
export const exceptionAttributes = (e: any): Record<string, string> => {
  let type = 'Error'
  let message: string
  let stack = ''
  try {
    // an Error (its prototype has a message), or an object that looks like one
    if (e && typeof e === 'object' && 'message' in e) {
      type = String(e.name || (e.constructor && e.constructor.name) || type)
      message = String(e.message)
      if (typeof e.stack === 'string') stack = e.stack
    } else message = String(e)
  } catch {
    message = UNPRINTABLE
  }
  return { 'exception.type': type, 'exception.message': message, 'exception.stacktrace': stack || type + (message ? ': ' + message : '') }
}

const UNPRINTABLE = '<unprintable>'
export const safeStr = (v: unknown): string => {
  try {
    return String(v)
  } catch {
    return UNPRINTABLE
  }
}

/** Turn an error record's pending thrown value into exception.* attributes, name and body. */
export const finalize = (r: TelemetryRecord): TelemetryRecord => {
  if (r.type === 'error' && 'error' in r) {
    const a = exceptionAttributes(r.error)
    delete r.error
    for (const k in a) if (!(k in r.attributes)) r.attributes[k] = (a as any)[k]
    const t = a['exception.type']
    const m = a['exception.message']
    r.name = t
    r.body = m ? t + ': ' + m : t
  }
  return r
}
