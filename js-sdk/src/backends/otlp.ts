/** The OTLP/HTTP JSON backend: /v1/traces, /v1/metrics, /v1/logs of any OpenTelemetry receiver. */
import { checkEndpoint, parseHeaders, type Config } from '../config'
import { encodeLogs, encodeMetrics, encodeTraces } from '../encoding/index'
import { failure, fromStatus, retry, success, type ExportResult } from '../resilience'
import { GZIP_MIN_BYTES, gzip, post } from '../transport'

export const DEFAULT_ENDPOINT = 'http://localhost:4318'
const SIGNALS: [string, (r: any[], res: any) => any][] = [
  ['traces', encodeTraces],
  ['metrics', encodeMetrics],
  ['logs', encodeLogs],
]

/** Which OTLP signal a record goes to. */
export const signalOf = (type: string, eventsAs: string): string =>
  type === 'metric' ? 'metrics' : type === 'log' || type === 'error' || (type === 'event' && eventsAs === 'logs') ? 'logs' : 'traces'

/** Options: argument > OTEL_EXPORTER_OTLP_* > ASTRID_* > default, as in Python. */
export const otlp = (cfg: Config) => {
  const env = cfg.env
  const E = 'OTEL_EXPORTER_OTLP_'
  const base = checkEndpoint((cfg.given && cfg.given.endpoint) || env[E + 'ENDPOINT'] || cfg.endpoint || DEFAULT_ENDPOINT, cfg.allowInsecure).replace(/\/+$/, '')
  const headers = { ...parseHeaders(env[E + 'HEADERS'] || ''), ...cfg.headers, 'Content-Type': 'application/json' }
  const urls: Record<string, string> = {}
  for (const [sig] of SIGNALS) {
    const own = (cfg as any)[sig + 'Endpoint'] || env[E + sig.toUpperCase() + '_ENDPOINT']
    urls[sig] = own ? checkEndpoint(own, cfg.allowInsecure, sig + 'Endpoint') : base + '/v1/' + sig
  }
  return {
    name: 'otlp',
    endpoint: base,
    async export(batch: { records: any[]; resource: any }, timeout: number): Promise<ExportResult> {
      const by: Record<string, any[]> = {}
      for (const r of batch.records) (by[signalOf(r.type, cfg.eventsAs)] ||= []).push(r)
      let rejected = 0
      for (const [sig, encode] of SIGNALS) {
        const recs = by[sig]
        if (!recs) continue
        let res: ExportResult
        try {
          let body: string | Uint8Array = JSON.stringify(encode(recs, batch.resource))
          const h: Record<string, string> = { ...headers }
          if (cfg.compression === 'gzip' && body.length > GZIP_MIN_BYTES) {
            const z = await gzip(body, cfg.compressionLevel)
            if (z) (body = z), (h['Content-Encoding'] = 'gzip')
          }
          const r = await post(urls[sig], body, h, timeout, true)
          res = fromStatus(r.status, r.header, cfg.retryAfterMax)
          if (res.ok) rejected += partial(r.text)
        } catch (e: any) {
          res = e && /^(timeout|connection_error)$/.test(e.message) ? retry(e.message) : failure('otlp_internal_error')
        }
        if (!res.ok) {
          // signals sent before stay sent: a retry resends only the rest
          const left = new Set(Object.keys(by).reduce((a: any[], k) => a.concat(by[k]), []))
          batch.records = batch.records.filter((r) => left.has(r))
          return res
        }
        delete by[sig]
      }
      return success(rejected)
    },
  }
}

/** Rejected count of an OTLP partialSuccess answer (0 when absent or garbled). */
const partial = (text: string): number => {
  try {
    const p = JSON.parse(text).partialSuccess || {}
    return Math.max(0, +(p.rejectedSpans || p.rejectedDataPoints || p.rejectedLogRecords || 0) || 0)
  } catch {
    return 0
  }
}
