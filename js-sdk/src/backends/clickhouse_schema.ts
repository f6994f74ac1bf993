/** ClickHouse table definitions (single server): the OTel-collector tables and the portable events table, as Python's clickhouse_schema.py. */

export const SCHEMAS = ['otel', 'events']
export type Version = [number, number]
const TTL_SINCE: Version = [19, 6]
const DEDUP_TOKEN_SINCE: Version = [22, 2]
const MAP_TYPES_SINCE: Version = [21, 12]
export const OLD_SERVER_HINT = 'the otel schema needs ClickHouse 21.12+, or use `schema="events"`'
const lt = (a: Version, b: Version): boolean => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1])

export const checkIdentifier = (v: unknown, option: string): string => {
  if (typeof v !== 'string' || !/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(v))
    throw new TypeError(`${option} must be a ClickHouse identifier (letters, digits and _, not starting with a digit, at most 128 characters); got ${String(v)}`)
  return v
}
export const checkPrefix = (v: unknown): string => {
  if (typeof v !== 'string' || !/^[A-Za-z0-9_]{0,64}$/.test(v)) throw new TypeError(`tablePrefix must be letters, digits and _ (at most 64 characters); got ${String(v)}`)
  return v
}
export const checkTtlDays = (v: unknown): number | undefined => {
  if (v == null) return undefined
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 36500) throw new RangeError(`ttlDays must be a whole number of days from 1 to 36500, or undefined; got ${String(v)}`)
  return v
}
/** `'24.8.4.13'` → [24, 8] */
export const parseVersion = (t: string): Version | undefined => {
  const m = /^\s*(\d+)\.(\d+)/.exec(t || '')
  return m ? [+m[1], +m[2]] : undefined
}

export const tableNames = (schema: string, prefix = ''): Record<string, string> =>
  schema === 'events'
    ? { events: prefix + 'events' }
    : { traces: prefix + 'otel_traces', logs: prefix + 'otel_logs', sum: prefix + 'otel_metrics_sum', gauge: prefix + 'otel_metrics_gauge', histogram: prefix + 'otel_metrics_histogram' }

const M = 'Map(LowCardinality(String), String)'
const Z = 'CODEC(ZSTD(1))'
const RES_INDEXES =
  '    INDEX idx_res_attr_key mapKeys(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n' +
  '    INDEX idx_res_attr_value mapValues(ResourceAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n'
const METRIC_HEAD =
  `    ResourceAttributes ${M} ${Z},\n` +
  `    ResourceSchemaUrl String ${Z},\n` +
  `    ScopeName String ${Z},\n` +
  `    ScopeVersion String ${Z},\n` +
  `    ScopeAttributes ${M} ${Z},\n` +
  `    ScopeDroppedAttrCount UInt32 ${Z},\n` +
  `    ScopeSchemaUrl String ${Z},\n` +
  `    ServiceName LowCardinality(String) ${Z},\n` +
  `    MetricName String ${Z},\n` +
  `    MetricDescription String ${Z},\n` +
  `    MetricUnit String ${Z},\n` +
  `    Attributes ${M} ${Z},\n` +
  '    StartTimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),\n' +
  '    TimeUnix DateTime64(9) CODEC(Delta, ZSTD(1)),\n'
const EXEMPLARS =
  '    Exemplars Nested (\n' +
  `        FilteredAttributes ${M},\n` +
  '        TimeUnix DateTime64(9),\n' +
  '        Value Float64,\n' +
  '        SpanId String,\n' +
  '        TraceId String\n' +
  '    ) CODEC(ZSTD(1)),\n'
const METRIC_TAIL =
  RES_INDEXES +
  '    INDEX idx_attr_key mapKeys(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n' +
  '    INDEX idx_attr_value mapValues(Attributes) TYPE bloom_filter(0.01) GRANULARITY 1\n'
const METRIC_END = ') ENGINE = MergeTree()\nPARTITION BY toDate(TimeUnix)\nORDER BY (ServiceName, MetricName, Attributes, toUnixTimestamp64Nano(TimeUnix))\n{ttl}'

const OTEL_BODIES: Record<string, string> = {
  traces:
    '    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),\n' +
    `    TraceId String ${Z},\n` +
    `    SpanId String ${Z},\n` +
    `    ParentSpanId String ${Z},\n` +
    `    TraceState String ${Z},\n` +
    `    SpanName LowCardinality(String) ${Z},\n` +
    `    SpanKind LowCardinality(String) ${Z},\n` +
    `    ServiceName LowCardinality(String) ${Z},\n` +
    `    ResourceAttributes ${M} ${Z},\n` +
    `    ScopeName String ${Z},\n` +
    `    ScopeVersion String ${Z},\n` +
    `    SpanAttributes ${M} ${Z},\n` +
    '    Duration UInt64 CODEC(T64, ZSTD(1)),\n' +
    `    StatusCode LowCardinality(String) ${Z},\n` +
    `    StatusMessage String ${Z},\n` +
    '    Events Nested (\n' +
    '        Timestamp DateTime64(9),\n' +
    '        Name LowCardinality(String),\n' +
    `        Attributes ${M}\n` +
    `    ) ${Z},\n` +
    '    Links Nested (\n' +
    '        TraceId String,\n' +
    '        SpanId String,\n' +
    '        TraceState String,\n' +
    `        Attributes ${M}\n` +
    `    ) ${Z},\n` +
    '    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,\n' +
    RES_INDEXES +
    '    INDEX idx_span_attr_key mapKeys(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n' +
    '    INDEX idx_span_attr_value mapValues(SpanAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n' +
    '    INDEX idx_duration Duration TYPE minmax GRANULARITY 1\n' +
    ') ENGINE = MergeTree()\n' +
    'PARTITION BY toDate(Timestamp)\n' +
    'PRIMARY KEY (ServiceName, SpanName, toDateTime(Timestamp))\n' +
    'ORDER BY (ServiceName, SpanName, toDateTime(Timestamp), Timestamp)\n' +
    '{ttl}',
  logs:
    '    Timestamp DateTime64(9) CODEC(Delta(8), ZSTD(1)),\n' +
    '    TimestampTime DateTime DEFAULT toDateTime(Timestamp),\n' +
    `    TraceId String ${Z},\n` +
    `    SpanId String ${Z},\n` +
    '    TraceFlags UInt8,\n' +
    `    SeverityText LowCardinality(String) ${Z},\n` +
    '    SeverityNumber UInt8,\n' +
    `    ServiceName LowCardinality(String) ${Z},\n` +
    `    Body String ${Z},\n` +
    `    ResourceSchemaUrl LowCardinality(String) ${Z},\n` +
    `    ResourceAttributes ${M} ${Z},\n` +
    `    ScopeSchemaUrl LowCardinality(String) ${Z},\n` +
    `    ScopeName String ${Z},\n` +
    `    ScopeVersion LowCardinality(String) ${Z},\n` +
    `    ScopeAttributes ${M} ${Z},\n` +
    `    LogAttributes ${M} ${Z},\n` +
    `    EventName String ${Z},\n` +
    '    INDEX idx_trace_id TraceId TYPE bloom_filter(0.001) GRANULARITY 1,\n' +
    RES_INDEXES +
    '    INDEX idx_log_attr_key mapKeys(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n' +
    '    INDEX idx_log_attr_value mapValues(LogAttributes) TYPE bloom_filter(0.01) GRANULARITY 1,\n' +
    '    INDEX idx_body Body TYPE tokenbf_v1(32768, 3, 0) GRANULARITY 8\n' +
    ') ENGINE = MergeTree()\n' +
    'PARTITION BY toDate(TimestampTime)\n' +
    'PRIMARY KEY (ServiceName, TimestampTime)\n' +
    'ORDER BY (ServiceName, TimestampTime, Timestamp)\n' +
    '{ttl}',
  sum: METRIC_HEAD + `    Value Float64 ${Z},\n    Flags UInt32 ${Z},\n` + EXEMPLARS + `    AggregationTemporality Int32 ${Z},\n    IsMonotonic Boolean CODEC(Delta, ZSTD(1)),\n` + METRIC_TAIL + METRIC_END,
  gauge: METRIC_HEAD + `    Value Float64 ${Z},\n    Flags UInt32 ${Z},\n` + EXEMPLARS + METRIC_TAIL + METRIC_END,
  histogram:
    METRIC_HEAD +
    '    Count UInt64 CODEC(Delta, ZSTD(1)),\n' +
    `    Sum Float64 ${Z},\n` +
    `    BucketCounts Array(UInt64) ${Z},\n` +
    `    ExplicitBounds Array(Float64) ${Z},\n` +
    EXEMPLARS +
    `    Flags UInt32 ${Z},\n` +
    `    Min Float64 ${Z},\n` +
    `    Max Float64 ${Z},\n` +
    `    AggregationTemporality Int32 ${Z},\n` +
    METRIC_TAIL +
    METRIC_END,
}
const TTL_COLUMN: Record<string, string> = {
  traces: 'toDateTime(Timestamp)',
  logs: 'TimestampTime',
  sum: 'toDateTime(TimeUnix)',
  gauge: 'toDateTime(TimeUnix)',
  histogram: 'toDateTime(TimeUnix)',
  events: 'timestamp',
}

/** The portable events table: types, syntax and engine that ClickHouse 18.x already had. */
export const EVENTS_COLUMNS: [string, string][] = (
  "id String,timestamp DateTime('UTC'),timestamp_ns UInt64,type String,name String,service String,service_version String,session_id String," +
  'user_id String,attr_keys Array(String),attr_values Array(String),resource_keys Array(String),resource_values Array(String),value Float64,' +
  'unit String,metric_type String,count UInt64,min Float64,max Float64,bounds Array(Float64),bucket_counts Array(UInt64),trace_id String,' +
  'span_id String,parent_span_id String,duration_ns UInt64,status String,status_message String,span_events String,severity_number UInt8,' +
  'severity_text String,body String'
)
  .split(',')
  .map((c) => c.split(' ') as [string, string])

const ttlClause = (kind: string, days?: number): string => (days ? `TTL ${TTL_COLUMN[kind]} + toIntervalDay(${days})\n` : '')
const q = (n: string): string => '`' + n + '`'

/** `CREATE ... IF NOT EXISTS` statements for one server, the same text as Python's schema_ddl (without a cluster). */
export const schemaDdl = (schema = 'otel', database = 'default', tablePrefix = '', ttlDays?: number, version?: Version): string[] => {
  if (SCHEMAS.indexOf(schema) < 0) throw new TypeError(`schema must be one of 'otel', 'events'; got ${schema}`)
  checkIdentifier(database, 'database')
  checkPrefix(tablePrefix)
  let ttl = checkTtlDays(ttlDays)
  if (schema === 'otel' && version && lt(version, MAP_TYPES_SINCE)) throw new RangeError(`${OLD_SERVER_HINT} (the server is ${version[0]}.${version[1]})`)
  if (version && lt(version, TTL_SINCE)) ttl = undefined
  const modern = !version || !lt(version, DEDUP_TOKEN_SINCE)
  const out: string[] = []
  if (database !== 'default') out.push(`CREATE DATABASE IF NOT EXISTS ${q(database)}`)
  const names = tableNames(schema, tablePrefix)
  for (const kind in names) {
    const table = checkIdentifier(names[kind], 'tablePrefix + table name')
    const head = `CREATE TABLE IF NOT EXISTS ${q(database)}.${q(table)} (\n`
    let body: string
    if (kind === 'events') {
      body =
        EVENTS_COLUMNS.map(([n, t]) => `    ${q(n)} ${t}`).join(',\n') +
        '\n) ENGINE = ReplacingMergeTree()\nPARTITION BY toYYYYMM(`timestamp`)\nORDER BY (`type`, `name`, `timestamp`, `id`)\n' +
        ttlClause(kind, ttl)
      if (version && modern) body += 'SETTINGS non_replicated_deduplication_window = 1000\n'
    } else {
      let settings = 'SETTINGS index_granularity = 8192'
      if (ttl) settings += ', ttl_only_drop_parts = 1'
      if (modern) settings += ', non_replicated_deduplication_window = 1000'
      body = OTEL_BODIES[kind].replace('{ttl}', ttlClause(kind, ttl)) + settings + '\n'
    }
    out.push(head + body.replace(/\n+$/, ''))
  }
  return out
}
