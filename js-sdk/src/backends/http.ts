/** The generic HTTP backend: one JSON document a batch (docs/http-format.schema.json), signed in Node. */
import { checkEndpoint, type Config } from '../config'
import { nodeModule } from '../consent'
import { finalize, nanos, rfc3339, SDK_VERSION } from '../records'
import { failure, fromStatus, retry, type ExportResult } from '../resilience'
import { GZIP_MIN_BYTES, gzip, post } from '../transport'

export const SIGNATURE_HEADER = 'X-Astrid-Signature'

// end - start in ns, exact for nanosecond strings (a double holds epoch nanoseconds to 256 ns only)
const durationNs = (start: any, end: any): number => {
  const [a, b] = [nanos(start), nanos(end)].map((t) => t.padStart(10, '0'))
  return (+b.slice(0, -9) - +a.slice(0, -9)) * 1e9 + (+b.slice(-9) - +a.slice(-9))
}

/** A record as the generic JSON format has it (Python's Record.to_dict); undefined fields are left out by JSON.stringify. */
export const toDict = (r: any): Record<string, unknown> => {
  finalize(r)
  const t = r.type
  const span = t === 'span'
  const log = t === 'log' || t === 'error'
  const traced = r.traceId && (log || t === 'event')
  const d: any = {
    id: r.id,
    type: t,
    name: r.name,
    timestamp: rfc3339(r.time),
    attributes: { ...r.attributes },
    trace_id: span || traced ? r.traceId : undefined,
    parent_span_id: span || (traced && !log) ? r.parentSpanId || null : undefined,
  }
  if (span)
    Object.assign(d, {
      span_id: r.spanId,
      end_timestamp: rfc3339(r.end),
      duration_ms: Math.max(0, durationNs(r.time, r.end) / 1e6),
      status: r.status || 'unset',
      status_message: r.statusMessage || '',
      events: (r.events || []).map((e: any) => ({ name: e.name, timestamp: rfc3339(e.time), attributes: { ...e.attributes } })),
    })
  if (t === 'metric')
    Object.assign(
      d,
      { metric_type: r.metricType, start_timestamp: rfc3339(r.start), unit: r.unit || undefined },
      r.metricType === 'histogram' ? { count: r.count, sum: r.sum, min: r.min, max: r.max, bounds: r.bounds, bucket_counts: r.bucketCounts } : { value: r.value },
    )
  if (log)
    Object.assign(d, { body: r.body || '', severity_number: r.severityNumber, severity_text: r.severityText, span_id: traced ? r.spanId || '0000000000000000' : undefined })
  return d
}

/** The batch as the generic JSON document. */
export const encodeDocument = (records: any[], resource: Record<string, unknown>): string =>
  JSON.stringify({ sdk: { name: 'astrid', version: SDK_VERSION, language: 'javascript', format: 1 }, resource, records: records.map(toDict) }, (_k, v) =>
    typeof v === 'bigint' ? String(v) : v,
  )

/** `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body>`, as Python's astrid.signing.sign. */
export const sign = async (secret: string, body: string | Uint8Array, t = Math.floor(Date.now() / 1000)): Promise<string> => {
  const c = await nodeModule('crypto')
  return 't=' + t + ',v1=' + c.createHmac('sha256', secret).update(t + '.').update(body).digest('hex')
}

/**
 * POST one JSON body of the otlp or http backend (gzip when configured and over GZIP_MIN_BYTES, signed when
 * `secret`) and classify the answer; never rejects. `kind` names an internal error; `answer` gets a 2xx body.
 */
export const send = async (
  cfg: Config,
  url: string,
  headers: Record<string, string>,
  json: () => string,
  timeout: number,
  kind: string,
  answer?: (text: string) => void,
  secret?: string,
): Promise<ExportResult> => {
  try {
    let body: string | Uint8Array = json()
    const h: Record<string, string> = { ...headers, 'Content-Type': 'application/json' }
    if (cfg.compression === 'gzip' && body.length > GZIP_MIN_BYTES) {
      const z = await gzip(body, cfg.compressionLevel)
      if (z) (body = z), (h['Content-Encoding'] = 'gzip')
    }
    // the signature covers the bytes on the wire (after gzip)
    if (__NODE__ && secret) h[SIGNATURE_HEADER] = await sign(secret, body)
    const r = await post(url, body, h, timeout, true)
    const res = fromStatus(r.status, r.header, cfg.retryAfterMax)
    if (res.ok && answer) answer(r.text)
    return res
  } catch (e: any) {
    return e && /^(timeout|connection_error)$/.test(e.message) ? retry(e.message) : failure(kind + '_internal_error')
  }
}

export const http = (cfg: Config) => {
  if (!cfg.endpoint) throw new TypeError("backend 'http' needs endpoint")
  const url = checkEndpoint(cfg.endpoint, cfg.allowInsecure)
  const secret = cfg.signingSecret
  if (secret != null) {
    if (!__NODE__) throw new TypeError('signingSecret: a secret shipped to browsers is not a secret')
    if (typeof secret !== 'string' || !secret) throw new TypeError('signingSecret must be a non-empty string')
  }
  return {
    name: 'http',
    endpoint: url,
    export: (batch: { records: any[]; resource: any }, timeout: number): ExportResult | Promise<ExportResult> =>
      batch.records.length ? send(cfg, url, cfg.headers, () => encodeDocument(batch.records, batch.resource), timeout, 'http', undefined, secret) : { ok: true },
  }
}
