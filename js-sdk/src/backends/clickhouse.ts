/** ClickHouse backend (Node only): JSONEachRow INSERTs over ClickHouse's HTTP interface, into the otel or the events tables. */
import { checkEndpoint, type Config } from '../config'
import { nodeModule } from '../consent'
import { finalize, nanos, SDK_VERSION } from '../records'
import { failure, parseRetryAfter, RETRYABLE, retry, success, tooLarge, type ExportResult } from '../resilience'
import { post } from '../transport'
import { checkIdentifier, checkPrefix, checkTtlDays, OLD_SERVER_HINT, parseVersion, SCHEMAS, schemaDdl, tableNames, type Version } from './clickhouse_schema'

export const DEFAULT_ENDPOINT = 'http://localhost:8123'
/** Error codes that say "try again later": overload, timeouts, replicas, keeper, memory. */
const RETRYABLE_CODES = [159, 164, 173, 202, 203, 209, 210, 225, 236, 241, 242, 252, 285, 286, 319, 394, 425, 439, 999]
/** The table or database is gone: recreate it and try again. */
const MISSING_CODES = [60, 81]

/** Decide by status and error code: a bad row is permanent even when the server says 500. */
export const classify = (status: number, body: string, header: (n: string) => any, cap: number): ExportResult => {
  if (status >= 200 && status < 300) return success(0, status)
  const m = /Code:\s*(\d+)/.exec(body.slice(0, 2000))
  const code = m ? +m[1] : undefined
  const why = code != null ? 'clickhouse_' + code : 'clickhouse_http_' + status
  const ra = parseRetryAfter(header('retry-after'), cap)
  if (code != null) return RETRYABLE_CODES.indexOf(code) >= 0 ? retry(why, ra, status) : failure(why, status)
  if (status === 413) return tooLarge(why, status)
  return RETRYABLE.indexOf(status) >= 0 ? retry(why, ra, status) : failure(why, status)
}

// ------------------------------------------------------------------ rows (Python's clickhouse_rows.py)

/** An attribute value as ClickHouse stores it (the collector's AsString convention). */
export const attrStr = (v: unknown): string => {
  if (typeof v === 'string') return v
  if (typeof v === 'boolean' || typeof v === 'number' || typeof v === 'bigint') return String(v)
  if (Array.isArray(v)) {
    try {
      return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? String(x) : x))
    } catch {}
  }
  try {
    return String(v)
  } catch {
    return ''
  }
}
const strMap = (a: Record<string, unknown> = {}): Record<string, string> => {
  const o: Record<string, string> = {}
  for (const k in a) o[k] = attrStr(a[k])
  return o
}
/** DateTime64(9) as quoted unix seconds with nanoseconds: read the same by every server version and time zone. */
export const dt64 = (t: number | string | undefined): string => {
  const ns = nanos(t).padStart(10, '0')
  return ns.slice(0, -9) + '.' + ns.slice(-9)
}
const dt = (t: number | string | undefined): string => nanos(t).padStart(10, '0').slice(0, -9)
const fin = (v: unknown): number => (typeof v === 'number' && isFinite(v) ? v : 0)
const durNs = (r: any): number => Math.max(0, Math.round(+nanos(r.end) - +nanos(r.time)))
const spanIdOf = (id: string): string => {
  const s = id.slice(-16)
  return /[^0]/.test(s) ? s : '0000000000000001'
}
const STATUS: Record<string, string> = { unset: 'STATUS_CODE_UNSET', ok: 'STATUS_CODE_OK', error: 'STATUS_CODE_ERROR' }
const KINDS = ['UNSPECIFIED', 'INTERNAL', 'SERVER', 'CLIENT', 'PRODUCER', 'CONSUMER']
const scope = { ScopeName: 'astrid', ScopeVersion: SDK_VERSION }

interface Ctx {
  resource: Record<string, string>
  service: string
  version: string
}

const traceRow = (r: any, c: Ctx): Record<string, unknown> => {
  const attrs = strMap(r.attributes)
  const span = r.type === 'span'
  if (!span) attrs['astrid.record.type'] = 'event'
  const events = span ? r.events || [] : []
  return {
    Timestamp: dt64(r.time),
    TraceId: span ? r.traceId : r.traceId || r.id,
    SpanId: span ? r.spanId : spanIdOf(r.id),
    ParentSpanId: r.parentSpanId || '',
    SpanKind: 'SPAN_KIND_' + (span ? KINDS[r.kind] || 'INTERNAL' : 'INTERNAL'),
    Duration: span ? durNs(r) : 0,
    StatusCode: span ? STATUS[r.status] || 'STATUS_CODE_UNSET' : 'STATUS_CODE_UNSET',
    StatusMessage: (span && r.statusMessage) || '',
    TraceState: '',
    SpanName: r.name,
    ServiceName: c.service,
    ResourceAttributes: c.resource,
    SpanAttributes: attrs,
    ...scope,
    'Events.Timestamp': events.map((e: any) => dt64(e.time)),
    'Events.Name': events.map((e: any) => e.name),
    'Events.Attributes': events.map((e: any) => strMap(e.attributes)),
    'Links.TraceId': [],
    'Links.SpanId': [],
    'Links.TraceState': [],
    'Links.Attributes': [],
  }
}

const logRow = (r: any, c: Ctx): Record<string, unknown> => ({
  Timestamp: dt64(r.time),
  TimestampTime: dt(r.time),
  TraceId: r.traceId || '',
  SpanId: r.traceId ? r.spanId || '' : '',
  TraceFlags: r.traceId ? 1 : 0,
  SeverityText: r.severityText,
  SeverityNumber: r.severityNumber | 0,
  ServiceName: c.service,
  Body: r.body || '',
  ResourceSchemaUrl: '',
  ResourceAttributes: c.resource,
  ScopeSchemaUrl: '',
  ScopeAttributes: {},
  LogAttributes: strMap(r.attributes),
  ...scope,
})

const metricRow = (m: any, c: Ctx): Record<string, unknown> => {
  const row: Record<string, unknown> = {
    ResourceAttributes: c.resource,
    ResourceSchemaUrl: '',
    ScopeAttributes: {},
    ScopeDroppedAttrCount: 0,
    ScopeSchemaUrl: '',
    ServiceName: c.service,
    MetricName: m.name,
    MetricDescription: m.description || '',
    MetricUnit: m.unit || '',
    Attributes: strMap(m.attributes),
    StartTimeUnix: dt64(m.start || m.time),
    TimeUnix: dt64(m.time),
    Flags: 0,
    'Exemplars.FilteredAttributes': [],
    'Exemplars.TimeUnix': [],
    'Exemplars.Value': [],
    'Exemplars.SpanId': [],
    'Exemplars.TraceId': [],
    ...scope,
  }
  if (m.metricType === 'histogram') {
    Object.assign(row, { Count: m.count | 0, Sum: fin(m.sum), BucketCounts: m.bucketCounts || [], ExplicitBounds: (m.bounds || []).map(fin), Min: fin(m.min), Max: fin(m.max), AggregationTemporality: 1 })
  } else {
    row.Value = fin(m.value)
    if (m.metricType === 'counter') Object.assign(row, { AggregationTemporality: 1, IsMonotonic: true })
  }
  return row
}

/** One row of the portable events table; every column is sent explicitly. */
export const eventsRow = (r: any, c: Ctx): Record<string, unknown> => {
  const attrs = strMap(r.attributes)
  const keys = Object.keys(attrs)
  const row: Record<string, unknown> = {
    id: r.id,
    timestamp: dt(r.time),
    timestamp_ns: nanos(r.time),
    type: r.type,
    name: r.name,
    service: c.service,
    service_version: c.version,
    session_id: attrs['session.id'] || '',
    user_id: attrs['user.id'] || '',
    attr_keys: keys,
    attr_values: keys.map((k) => attrs[k]),
    resource_keys: Object.keys(c.resource),
    resource_values: Object.keys(c.resource).map((k) => c.resource[k]),
    value: 0,
    unit: '',
    metric_type: '',
    count: 0,
    min: 0,
    max: 0,
    bounds: [],
    bucket_counts: [],
    trace_id: '',
    span_id: '',
    parent_span_id: '',
    duration_ns: 0,
    status: '',
    status_message: '',
    span_events: '',
    severity_number: 0,
    severity_text: '',
    body: '',
  }
  const t = r.type
  if (t === 'span') {
    const d = durNs(r)
    const ev = r.events || []
    Object.assign(row, {
      trace_id: r.traceId,
      span_id: r.spanId,
      parent_span_id: r.parentSpanId || '',
      duration_ns: d,
      value: d / 1e6,
      unit: 'ms',
      status: r.status || 'unset',
      status_message: r.statusMessage || '',
      span_events: ev.length ? JSON.stringify(ev.map((e: any) => ({ name: e.name, time_ns: +nanos(e.time), attributes: strMap(e.attributes) }))) : '',
    })
  } else if (t === 'event') {
    if (r.traceId) Object.assign(row, { trace_id: r.traceId, span_id: spanIdOf(r.id), parent_span_id: r.parentSpanId || '' })
  } else if (t === 'metric') {
    Object.assign(row, { metric_type: r.metricType, unit: r.unit || '' })
    if (r.metricType === 'histogram') Object.assign(row, { value: fin(r.sum), count: r.count | 0, min: fin(r.min), max: fin(r.max), bounds: (r.bounds || []).map(fin), bucket_counts: r.bucketCounts || [] })
    else row.value = fin(r.value)
  } else {
    Object.assign(row, { severity_number: r.severityNumber | 0, severity_text: r.severityText || '', body: r.body || '' })
    if (r.traceId) Object.assign(row, { trace_id: r.traceId, span_id: r.spanId || '' })
  }
  return row
}

const otelKind = (r: any): string | undefined =>
  r.type === 'event' || r.type === 'span' ? 'traces' : r.type === 'log' || r.type === 'error' ? 'logs' : r.type === 'metric' ? ({ counter: 'sum', gauge: 'gauge', histogram: 'histogram' } as any)[r.metricType] : undefined
const ROW: Record<string, (r: any, c: Ctx) => Record<string, unknown>> = { traces: traceRow, logs: logRow, sum: metricRow, gauge: metricRow, histogram: metricRow, events: eventsRow }

// ------------------------------------------------------------------ the backend

export const clickhouse = (cfg: Config) => {
  if (!__NODE__) throw new TypeError('the clickhouse backend runs in Node only (a database password shipped to browsers is not a secret)')
  const base = checkEndpoint(cfg.endpoint || DEFAULT_ENDPOINT, cfg.allowInsecure).replace(/\/+$/, '')
  const database = checkIdentifier(cfg.database == null ? 'default' : cfg.database, 'database')
  const schema = cfg.schema == null ? 'otel' : cfg.schema
  if (SCHEMAS.indexOf(schema) < 0) throw new TypeError(`schema must be one of 'otel', 'events'; got ${String(schema)}`)
  const prefix = checkPrefix(cfg.tablePrefix == null ? '' : cfg.tablePrefix)
  const ttl = checkTtlDays(cfg.ttlDays)
  const create = cfg.createSchema !== false
  const tables = tableNames(schema, prefix)
  for (const k in tables) checkIdentifier(tables[k], 'tablePrefix + table name')
  const headers: Record<string, string> = { ...cfg.headers }
  for (const [o, h] of [['username', 'X-ClickHouse-User'], ['password', 'X-ClickHouse-Key']]) {
    const v = cfg[o]
    if (v != null && typeof v !== 'string') throw new TypeError(`${o} must be a string`)
    if (v) headers[h] = v
  }
  let version: Version | undefined
  let ready = false

  const run = async (query: string, body: string, timeout: number, settings: Record<string, string> = {}): Promise<ExportResult & { text?: string }> => {
    const qs = new URLSearchParams({ query, ...settings }).toString()
    try {
      const r = await post(base + '/?' + qs, body, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }, timeout)
      return { ...classify(r.status, r.text, r.header, cfg.retryAfterMax), text: r.text }
    } catch (e: any) {
      return retry(e && e.message === 'timeout' ? 'timeout' : 'connection_error')
    }
  }

  /** Learn the server version and create the tables, once. */
  const ensure = async (timeout: number): Promise<ExportResult | undefined> => {
    if (!version) {
      const r = await run('SELECT version()', '', timeout)
      if (!r.ok) return r
      version = parseVersion(r.text || '') || [0, 0]
    }
    if (ready || !create) return
    if (schema === 'otel' && version[0] && (version[0] < 21 || (version[0] === 21 && version[1] < 12))) {
      if (cfg.debug) console.error(`astrid: ClickHouse ${version.join('.')}: ${OLD_SERVER_HINT}; not creating the otel tables`)
      ready = true
      return
    }
    for (const ddl of schemaDdl(schema, database, prefix, ttl, version[0] ? version : undefined)) {
      const r = await run(ddl, '', timeout)
      if (!r.ok) {
        if (r.retryable) return r
        break // no CREATE right is fine when the tables exist; the INSERT will tell
      }
    }
    ready = true
  }

  const dedup = async (records: any[]): Promise<string> => {
    const c = await nodeModule('crypto')
    const h = c.createHash('sha256')
    for (const r of records) h.update(r.id)
    return 'astrid-' + h.digest('hex').slice(0, 40)
  }

  return {
    name: 'clickhouse',
    endpoint: base,
    schemaDdl: () => schemaDdl(schema, database, prefix, ttl, version),
    async export(batch: { records: any[]; resource: any }, timeout: number): Promise<ExportResult> {
      try {
        if (!batch.records.length) return success()
        const notReady = await ensure(timeout)
        if (notReady) return notReady
        const res = strMap(batch.resource)
        const ctx: Ctx = { resource: res, service: res['service.name'] || '', version: res['service.version'] || '' }
        const groups: Record<string, any[]> = {}
        for (const r of batch.records) {
          finalize(r)
          const k = schema === 'events' ? 'events' : otelKind(r)
          if (k) (groups[k] ||= []).push(r)
        }
        let rejected = 0
        let stop: ExportResult | undefined
        let last: ExportResult | undefined
        const remaining: any[] = []
        for (const kind in groups) {
          const recs = groups[kind]
          if (stop) {
            remaining.push(...recs)
            continue
          }
          const body = recs.map((r) => JSON.stringify(ROW[kind](r, ctx))).join('\n') + '\n'
          const settings: Record<string, string> = {}
          // the same rows carry the same token on every try: a retry whose answer was lost is stored once
          if (version && (version[0] > 22 || (version[0] === 22 && version[1] >= 2))) settings.insert_deduplication_token = await dedup(recs)
          let r = await run(`INSERT INTO \`${database}\`.\`${tables[kind]}\` FORMAT JSONEachRow`, body, timeout, settings)
          if (!r.ok && MISSING_CODES.indexOf(+(r.reason || '').slice(11)) >= 0 && create) {
            ready = false // the table was dropped under us: recreate, retry
            r = retry(r.reason!, undefined, r.status)
          }
          if (r.ok) continue
          if (r.retryable) {
            stop = r
            remaining.push(...recs)
          } else (rejected += recs.length), (last = r)
        }
        if (stop) {
          batch.records = remaining // what settled stays settled: a retry resends only the rest
          return stop
        }
        if (rejected && rejected === batch.records.length) return failure((last && last.reason) || 'clickhouse_rejected', last && last.status)
        return success(rejected)
      } catch {
        return failure('clickhouse_internal_error')
      }
    },
  }
}
