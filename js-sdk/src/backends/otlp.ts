/** The OTLP/HTTP JSON backend: /v1/traces, /v1/metrics, /v1/logs of any OpenTelemetry receiver. */
import { checkEndpoint, parseHeaders, type Config } from '../config'
import { encodeLogs, encodeMetrics, encodeTraces } from '../encoding/index'
import { success, type ExportResult } from '../resilience'
import { send } from './http'

export const DEFAULT_ENDPOINT = 'http://localhost:4318'
const SIGNALS: [string, (r: any[], res: any) => any][] = [
  ['traces', encodeTraces],
  ['metrics', encodeMetrics],
  ['logs', encodeLogs],
]

/** Which OTLP signal a record goes to. */
export const signalOf = (type: string, eventsAs: string): string =>
  type === 'metric' ? 'metrics' : type === 'log' || type === 'error' || (type === 'event' && eventsAs === 'logs') ? 'logs' : 'traces'

/** Options: argument > OTEL_EXPORTER_OTLP_* (Node) > ASTRID_* (Node) > default, as in Python. */
export const otlp = (cfg: Config) => {
  // the environment is Node's: browser builds read the options only (as config.ts does)
  const env = (k: string): string | undefined => (__NODE__ ? cfg.env['OTEL_EXPORTER_OTLP_' + k] : undefined)
  const base = checkEndpoint((__NODE__ && ((cfg.given && cfg.given.endpoint) || env('ENDPOINT'))) || cfg.endpoint || DEFAULT_ENDPOINT, cfg.allowInsecure).replace(/\/+$/, '')
  const headers = { ...(__NODE__ && parseHeaders(env('HEADERS') || '')), ...cfg.headers }
  const urls: Record<string, string> = {}
  for (const [sig] of SIGNALS) {
    const own = (cfg as any)[sig + 'Endpoint'] || (__NODE__ && env(sig.toUpperCase() + '_ENDPOINT'))
    urls[sig] = own ? checkEndpoint(own, cfg.allowInsecure, sig + 'Endpoint') : base + '/v1/' + sig
  }
  return {
    name: 'otlp',
    endpoint: base,
    /** each signal's URL (browser/delivery.ts posts there on page hide) */
    urls_: urls,
    async export(batch: { records: any[]; resource: any }, timeout: number): Promise<ExportResult> {
      const by: Record<string, any[]> = {}
      const sig = (r: any): string => signalOf(r.type, cfg.eventsAs)
      for (const r of batch.records) (by[sig(r)] ||= []).push(r)
      let rejected = 0
      for (const [s, encode] of SIGNALS) {
        const recs = by[s]
        if (!recs) continue
        const res = await send(cfg, urls[s], headers, () => JSON.stringify(encode(recs, batch.resource)), timeout, 'otlp', (t) => (rejected += partial(t)))
        if (!res.ok) {
          // signals sent before stay sent: a retry resends only the rest
          batch.records = batch.records.filter((r) => by[sig(r)])
          return res
        }
        delete by[s]
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
