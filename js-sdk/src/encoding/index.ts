/**
 * OTLP/HTTP JSON, as Python's encoding/otlp_json.py writes it: records → the request objects of
 * /v1/traces, /v1/metrics and /v1/logs (JSON.stringify them). Hex ids, nanosecond times as
 * strings, 64-bit integers as strings, non-finite doubles as "NaN"/"Infinity"/"-Infinity".
 * Events go out as zero-length spans from encodeTraces or as log records from encodeLogs.
 */
import { eventSpanId, nanos, SDK_VERSION, type TelemetryRecord as R } from '../records'

type Attrs = Record<string, unknown>
type KV = { key: string; value: object }

/** Attribute that tells receivers an exported span or log record was an Astrid event. */
export const RECORD_TYPE_KEY = 'astrid.record.type'
/** Receivers de-duplicate log records by this attribute (spans by their span id). */
export const LOG_UID_KEY = 'log.record.uid'

const dbl = (v: number): number | string => (isFinite(v) ? v : v != v ? 'NaN' : v > 0 ? 'Infinity' : '-Infinity')
const isInt = (v: any): boolean => Number.isInteger(v) && Math.abs(v) < 2 ** 63
const nz = (id?: string): string | 0 => (id && /[^0]/.test(id) ? id : 0)

/** An OTLP AnyValue: integers (within 64 bits) as intValue strings, other numbers as doubleValue, plain objects as kvlistValue, bytes as base64. */
export const anyValue = (v: unknown): object => {
  const t = typeof v
  return t == 'string'
    ? { stringValue: v }
    : t == 'boolean'
      ? { boolValue: v }
      : t == 'number'
        ? isInt(v) ? { intValue: String(v) } : { doubleValue: dbl(v as number) }
        : Array.isArray(v)
          ? { arrayValue: { values: v.map(anyValue) } }
          : ArrayBuffer.isView(v)
            ? { bytesValue: btoa(Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), (c) => String.fromCharCode(c)).join('')) }
            : v && [Object.prototype, null].includes(Object.getPrototypeOf(v))
              ? { kvlistValue: { values: attributes(v as Attrs) } }
              : { stringValue: String(v) }
}

/** OTLP KeyValue list of `a`, then `extra` (pairs the record gains on the wire). */
export const attributes = (a: Attrs, extra: [string, unknown][] = []): KV[] =>
  Object.entries(a || {}).concat(extra).map(([key, v]) => ({ key, value: anyValue(v) }))

// what an event gains on the wire (never overriding the caller's own attributes)
const extra = (r: R, asLog?: boolean): [string, unknown][] => {
  const a = r.attributes || {}
  const x: [string, unknown][] = []
  const add = (k: string, v: unknown): any => k in a || x.push([k, v])
  if (r.type == 'event') {
    add(RECORD_TYPE_KEY, 'event')
    if (asLog) add('event.name', r.name)
  }
  if (asLog || r.type != 'event') add(LOG_UID_KEY, r.id)
  return x
}

const envelope = (outer: string, items: string, rows: object[], resource: Attrs): object => ({
  ['resource' + outer]: [
    { resource: { attributes: attributes(resource) }, ['scope' + outer]: [{ scope: { name: 'astrid', version: SDK_VERSION }, [items]: rows }] },
  ],
})

/** /v1/traces body: spans, and events as zero-length spans (span id: the low 64 bits of the event's id). */
export const encodeTraces = (records: R[], resource: Attrs): object =>
  envelope(
    'Spans',
    'spans',
    records.map((r) => {
      const ev = r.type == 'event'
      const parent = nz(r.parentSpanId)
      const s: any = { traceId: ev ? r.traceId || r.id : r.traceId, spanId: ev ? eventSpanId(r.id) : r.spanId }
      if (parent) s.parentSpanId = parent
      Object.assign(s, {
        name: r.name,
        kind: r.kind || 1,
        startTimeUnixNano: nanos(r.time),
        endTimeUnixNano: nanos(r.end == null ? r.time : r.end),
        attributes: attributes(r.attributes, ev ? extra(r) : []),
      })
      if (!ev) {
        const code = ({ ok: 1, error: 2 } as any)[r.status!]
        if (r.events && r.events.length)
          s.events = r.events.map((e) => ({ timeUnixNano: nanos(e.time), name: e.name, attributes: attributes(e.attributes) }))
        if (code || r.statusMessage) s.status = r.statusMessage ? { message: r.statusMessage, code } : { code }
      }
      return s
    }),
    resource,
  )

/** /v1/metrics body: one OTLP Metric per (name, type, unit, description); counters as delta monotonic sums. */
export const encodeMetrics = (records: R[], resource: Attrs): object => {
  const groups = new Map<string, R[]>()
  for (const m of records) {
    const k = JSON.stringify([m.name, m.metricType, m.unit || '', m.description || ''])
    groups.set(k, (groups.get(k) || []).concat(m))
  }
  return envelope(
    'Metrics',
    'metrics',
    [...groups.values()].map((ps) => {
      const { name, description, unit, metricType: type } = ps[0]
      const d: any = { name }
      const points = ps.map((m) => {
        const p: any = { attributes: attributes(m.attributes), startTimeUnixNano: nanos(m.start), timeUnixNano: nanos(m.time) }
        const v = m.value == null ? 0 : m.value
        if (type != 'histogram') isInt(v) ? (p.asInt = String(v)) : (p.asDouble = dbl(v))
        else {
          Object.assign(p, { count: String(m.count || 0), sum: dbl(m.sum || 0) })
          if (m.bucketCounts && m.bucketCounts.length) p.bucketCounts = m.bucketCounts.map(String)
          if (m.bounds && m.bounds.length) p.explicitBounds = m.bounds.map(dbl)
          if (m.count) (p.min = dbl(m.min!)), (p.max = dbl(m.max!))
        }
        return p
      })
      if (description) d.description = description
      if (unit) d.unit = unit
      d[type == 'histogram' ? 'histogram' : type == 'gauge' ? 'gauge' : 'sum'] =
        type == 'gauge' ? { dataPoints: points } : type == 'histogram' ? { dataPoints: points, aggregationTemporality: 1 } : { dataPoints: points, aggregationTemporality: 1, isMonotonic: true }
      return d
    }),
    resource,
  )
}

/** /v1/logs body: logs and errors (exception.* attributes), and events as log records with eventName. */
export const encodeLogs = (records: R[], resource: Attrs): object =>
  envelope(
    'Logs',
    'logRecords',
    records.map((r) => {
      const t = nanos(r.time)
      const ev = r.type == 'event'
      const l: any = { timeUnixNano: t, observedTimeUnixNano: t }
      if (ev) l.eventName = r.name
      else {
        if (r.severityNumber) l.severityNumber = r.severityNumber
        if (r.severityText) l.severityText = r.severityText
        if (r.body) l.body = anyValue(r.body)
      }
      l.attributes = attributes(r.attributes, extra(r, true))
      // an event logs under its parent span
      const span = nz(ev ? r.parentSpanId : r.spanId)
      if (nz(r.traceId)) {
        l.traceId = r.traceId
        if (span) l.spanId = span
      }
      return l
    }),
    resource,
  )
