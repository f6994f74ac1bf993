/**
 * OTLP/HTTP JSON, as Python's encoding/otlp_json.py writes it: records → the request objects of
 * /v1/traces, /v1/metrics and /v1/logs (JSON.stringify them). Hex ids, nanosecond times as
 * strings, 64-bit integers as strings, non-finite doubles as "NaN"/"Infinity"/"-Infinity".
 * Events go out as zero-length spans from encodeTraces or as log records from encodeLogs. Absent
 * fields are left undefined, so JSON.stringify leaves them out.
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
/** an id that is not all zeros, or undefined */
const nz = (id?: string): string | undefined => (id && /[^0]/.test(id) ? id : undefined)
const some = (a: any[] | undefined, f: (x: any) => unknown): unknown[] | undefined => (a && a.length ? a.map(f) : undefined)

/** An OTLP AnyValue: integers (within 64 bits) as intValue strings, other numbers as doubleValue, plain objects as kvlistValue, bytes as base64. */
export const anyValue = (v: unknown): object => {
  const t = typeof v
  let p
  return t == 'string'
    ? { stringValue: v }
    : t == 'boolean'
      ? { boolValue: v }
      : t == 'number'
        ? isInt(v) ? { intValue: '' + v } : { doubleValue: dbl(v as number) }
        : Array.isArray(v)
          ? { arrayValue: { values: v.map(anyValue) } }
          : ArrayBuffer.isView(v)
            ? { bytesValue: btoa(Array.from(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), (c) => String.fromCharCode(c)).join('')) }
            : v && ((p = Object.getPrototypeOf(v)) == null || p == Object.prototype)
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
      const code = ev ? 0 : ({ ok: 1, error: 2 } as any)[r.status!]
      const msg = !ev && r.statusMessage
      return {
        traceId: ev ? r.traceId || r.id : r.traceId,
        spanId: ev ? eventSpanId(r.id) : r.spanId,
        parentSpanId: nz(r.parentSpanId),
        name: r.name,
        kind: r.kind || 1,
        startTimeUnixNano: nanos(r.time),
        endTimeUnixNano: nanos(r.end == null ? r.time : r.end),
        attributes: attributes(r.attributes, ev ? extra(r) : []),
        events: ev ? undefined : some(r.events, (e) => ({ timeUnixNano: nanos(e.time), name: e.name, attributes: attributes(e.attributes) })),
        status: code || msg ? { message: msg || undefined, code } : undefined,
      }
    }),
    resource,
  )

/** /v1/metrics body: one OTLP Metric per (name, type, unit, description); counters as delta monotonic sums. */
export const encodeMetrics = (records: R[], resource: Attrs): object => {
  const groups: Record<string, R[]> = {}
  for (const m of records) (groups[JSON.stringify([m.name, m.metricType, m.unit || '', m.description || ''])] ||= []).push(m)
  return envelope(
    'Metrics',
    'metrics',
    Object.values(groups).map((ps) => {
      const { name, description, unit, metricType: type } = ps[0]
      const h = type == 'histogram'
      const sum = !h && type != 'gauge'
      return {
        name,
        description: description || undefined,
        unit: unit || undefined,
        [sum ? 'sum' : type!]: {
          dataPoints: ps.map((m) => {
            const v = m.value == null ? 0 : m.value
            const c = m.count
            return {
              attributes: attributes(m.attributes),
              startTimeUnixNano: nanos(m.start),
              timeUnixNano: nanos(m.time),
              ...(h
                ? {
                    count: '' + (c || 0),
                    sum: dbl(m.sum || 0),
                    bucketCounts: some(m.bucketCounts, String),
                    explicitBounds: some(m.bounds, dbl),
                    min: c ? dbl(m.min!) : undefined,
                    max: c ? dbl(m.max!) : undefined,
                  }
                : isInt(v)
                  ? { asInt: '' + v }
                  : { asDouble: dbl(v) }),
            }
          }),
          aggregationTemporality: h || sum ? 1 : undefined,
          isMonotonic: sum || undefined,
        },
      }
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
      const trace = nz(r.traceId)
      return {
        timeUnixNano: t,
        observedTimeUnixNano: t,
        eventName: ev ? r.name : undefined,
        severityNumber: (!ev && r.severityNumber) || undefined,
        severityText: (!ev && r.severityText) || undefined,
        body: !ev && r.body ? anyValue(r.body) : undefined,
        attributes: attributes(r.attributes, extra(r, true)),
        traceId: trace,
        // an event logs under its parent span
        spanId: trace && nz(ev ? r.parentSpanId : r.spanId),
      }
    }),
    resource,
  )
