/** What each client option means: the source of the option table in docs/js.md (not part of the bundles). */
import { DEFAULTS, ENV_OPTIONS, envName, type Defaults } from './config'

export const OPTION_DOCS: Record<keyof Defaults, string> = {
  projectName: 'Name of the application or library; becomes `service.name`. Required.',
  version: 'Version of the application; becomes `service.version`.',
  backend: 'Where telemetry goes: `otlp`, `http`, `clickhouse` (Node), `console`, `memory`, a backend object or a list of them.',
  endpoint: 'Base URL of the backend (OTLP also reads `OTEL_EXPORTER_OTLP_ENDPOINT`; default `http://localhost:4318`).',
  headers: 'Extra HTTP headers, e.g. an API key (env: `k1=v1,k2=v2`, URL-encoded).',
  enabled: 'Unset: decided by the consent rules; `true`/`false`: the application decides (`DO_NOT_TRACK`, Do Not Track and GPC still win).',
  batchSize: 'Records per export batch.',
  flushInterval: 'Seconds between scheduled exports (and metric collection).',
  maxQueueSize: 'Records held in memory at most: the queue (also while consent is pending) and every backend\'s backlog together (`stats().queue_high_water` shows the peak); the oldest are dropped beyond it, and counted.',
  compression: 'Request body compression: `gzip` or `none` (gzip above 1 KB where the runtime can: `node:zlib`, `CompressionStream`).',
  compressionLevel: 'gzip level 1-9 in Node (browsers use their default).',
  timeout: 'Seconds one HTTP request may take.',
  shutdownTimeout: 'Seconds `shutdown()`, `flush()` without a timeout and the exit-time flush may take.',
  sampleRate: 'Fraction of traces kept (0-1), decided from the trace id before queueing (as OpenTelemetry\'s TraceIdRatioBased and the Python SDK): a trace\'s spans and events go together, an event outside a span by its own id; logs, errors and metrics are always kept.',
  resourceAttributes: 'Extra resource attributes (merged over `OTEL_RESOURCE_ATTRIBUTES`).',
  beforeSend: 'A function given each record on the worker, after the privacy engine: return it (changed or not) to send it, `null` to drop it; may return a promise.',
  privacy: 'Privacy engine options (unset: the safe defaults; see docs/privacy.md).',
  eventsAs: 'How events are exported over OTLP: `spans` or `logs`.',
  allowInsecure: 'Allow plain `http://` to a host that is not loopback.',
  backoffBase: 'First retry delay in seconds (exponential backoff with full jitter).',
  backoffMax: 'Longest retry delay in seconds.',
  retryAfterMax: 'Longest `Retry-After` the SDK honours, in seconds.',
  breakerThreshold: 'Consecutive failed exports that open the circuit breaker.',
  breakerCooldown: 'Seconds the breaker stays open before a half-open probe.',
  maxMetricSeries: 'Distinct metric name+attribute series per interval; more are dropped and counted.',
  installAtexit: 'Node: flush when the event loop empties (`beforeExit`), bounded by `shutdownTimeout`.',
  debug: 'Print SDK diagnostics to stderr.',
}

const show = (v: unknown): string => (v === undefined ? '—' : typeof v === 'object' ? '`{}`' : '`' + JSON.stringify(v) + '`')

/** The option table of docs/js.md, generated from DEFAULTS, ENV_OPTIONS and OPTION_DOCS. */
export const optionsTable = (): string =>
  ['| Option | Default | Environment (Node) | Meaning |', '| --- | --- | --- | --- |']
    .concat(Object.keys(DEFAULTS).map((k) => `| \`${k}\` | ${show((DEFAULTS as any)[k])} | ${ENV_OPTIONS.indexOf(k) >= 0 ? '`' + envName(k) + '`' : ''} | ${(OPTION_DOCS as any)[k]} |`))
    .join('\n')
