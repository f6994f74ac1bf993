/** Client options: defaults, environment variables (Node), validation. The one reader of the environment. */

export interface Options {
  projectName: string
  version?: string
  backend?: string | Backend | (string | Backend)[]
  endpoint?: string
  headers?: Record<string, string> | string
  enabled?: boolean
  batchSize?: number
  flushInterval?: number
  maxQueueSize?: number
  compression?: 'gzip' | 'none'
  compressionLevel?: number
  timeout?: number
  shutdownTimeout?: number
  sampleRate?: number
  resourceAttributes?: Record<string, unknown>
  beforeSend?: (record: any) => any
  privacy?: any
  eventsAs?: 'spans' | 'logs'
  allowInsecure?: boolean
  backoffBase?: number
  backoffMax?: number
  retryAfterMax?: number
  breakerThreshold?: number
  breakerCooldown?: number
  maxMetricSeries?: number
  installAtexit?: boolean
  debug?: boolean
  /** backend options (http: signingSecret; clickhouse: database, username, password, schema, tablePrefix, createTables) */
  [backendOption: string]: unknown
}

export interface Backend {
  name?: string
  export(batch: Batch, timeout: number): unknown
  shutdown?(timeout: number): unknown
}
export interface Batch {
  records: any[]
  resource: Record<string, unknown>
}

/** Every client option with its default (`DEFAULTS`, the source of the docs' option table with OPTION_DOCS). */
export interface Defaults {
  projectName: string
  version: string | undefined
  backend: Options['backend']
  endpoint: string | undefined
  headers: Record<string, string>
  enabled: boolean | undefined
  batchSize: number
  flushInterval: number
  maxQueueSize: number
  compression: string
  compressionLevel: number
  timeout: number
  shutdownTimeout: number
  sampleRate: number
  resourceAttributes: Record<string, unknown>
  beforeSend: ((r: any) => any) | undefined
  privacy: any
  eventsAs: string
  allowInsecure: boolean
  backoffBase: number
  backoffMax: number
  retryAfterMax: number
  breakerThreshold: number
  breakerCooldown: number
  maxMetricSeries: number
  installAtexit: boolean
  debug: boolean
}
export type Config = Defaults & { env: Record<string, string | undefined>; [k: string]: any }

/**
 * The options in order, as data: `name` (no default, anything), `name:type` (no default; that type when given),
 * `name=default`, `name=number/low/high[/1 for an integer]`, `name=choice/choice...` (the first is the default).
 */
const SPEC =
  'projectName=,version:string,backend=otlp,endpoint:string,headers={},enabled:boolean,batchSize=512/1/1e6/1,flushInterval=5/.001/86400,maxQueueSize=20000/1/1e8/1,compression=gzip/none,compressionLevel=1/1/9/1,timeout=10/.001/3600,shutdownTimeout=5/0/3600,sampleRate=1/0/1,resourceAttributes={},beforeSend:function,privacy,eventsAs=spans/logs,allowInsecure=false,backoffBase=.5/0/3600,backoffMax=30/0/86400,retryAfterMax=60/0/86400,breakerThreshold=5/1/1e6/1,breakerCooldown=10/0/86400,maxMetricSeries=2000/1/1e7/1,installAtexit=true,debug=false'
/** option → its checks: [low, high, integer?] of a number, the choices of a string, or [type] of an option without default */
const RULES: Record<string, any[]> = {}
export const DEFAULTS: Defaults = /* @__PURE__ */ (() => {
  const o: any = {}
  for (const e of SPEC.split(',')) {
    const [k, v] = e.split('=')
    const [n, t] = k.split(':')
    const p = (v || '').split('/')
    const x = +p[0]
    o[n] = v == null ? undefined : v == '{}' ? {} : v == 'true' ? true : v == 'false' ? false : v && x == x ? x : p[0]
    if (t) RULES[n] = [t]
    else if (p[1]) RULES[n] = x == x ? p.slice(1).map(Number) : p
  }
  return o
})()

/** Options an end user may set through the environment (Node): ASTRID_<NAME IN SNAKE CASE>. */
export const ENV_OPTIONS = /* @__PURE__ */ 'backend endpoint headers batchSize flushInterval maxQueueSize compression compressionLevel timeout shutdownTimeout sampleRate eventsAs allowInsecure debug'.split(' ')
export const envName = (o: string): string => 'ASTRID_' + o.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()

/** Options of the built-in backends (besides the client's own). */
export const BACKEND_OPTIONS = /* @__PURE__ */ 'signingSecret database username password schema tablePrefix createSchema ttlDays protocol tracesEndpoint metricsEndpoint logsEndpoint env storage maxRecords'.split(' ')

const g: any = globalThis
/** The process environment in Node (a copy), {} elsewhere. */
export const environ = (): Record<string, string | undefined> => {
  if (__NODE__)
    try {
      return { ...g.process.env }
    } catch {}
  return {}
}

export const parseBool = (v: unknown): boolean | undefined => {
  const s = typeof v === 'string' ? v.trim().toLowerCase() : ''
  return /^(1|true|yes|on)$/.test(s) ? true : /^(0|false|no|off)$/.test(s) ? false : undefined
}

/** `k1=v1,k2=v2` with URL-encoded parts (OTEL_EXPORTER_OTLP_HEADERS, OTEL_RESOURCE_ATTRIBUTES). */
export const parseHeaders = (text: string): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const part of text.split(',')) {
    const i = part.indexOf('=')
    if (i < 0) continue
    try {
      const k = decodeURIComponent(part.slice(0, i).trim())
      if (k) out[k] = decodeURIComponent(part.slice(i + 1).trim())
    } catch {}
  }
  return out
}

export const projectSwitch = (p: string): string => p.replace(/[^A-Za-z0-9]/g, '_').toUpperCase() + '_TELEMETRY'

const bad = (msg: string, type?: 1): never => {
  throw new (type ? TypeError : RangeError)(msg)
}
const isObj = (v: unknown): v is Record<string, any> => !!v && typeof v === 'object' && !Array.isArray(v)

/** Constructor argument > environment (Node) > default; throws TypeError/RangeError naming the option. */
export const makeConfig = (options: Options): Config => {
  if (!isObj(options)) bad('options must be an object such as {projectName: "my-app"}', 1)
  const env = isObj(options.env) ? (options.env as Record<string, string>) : environ()
  const cfg: any = { env }
  for (const k in options) {
    if (!(k in DEFAULTS) && BACKEND_OPTIONS.indexOf(k) < 0) bad('unknown option ' + k, 1)
  }
  for (const k in DEFAULTS) {
    const d = (DEFAULTS as any)[k]
    let v = (options as any)[k]
    if (__NODE__ && v == null && ENV_OPTIONS.indexOf(k) >= 0) {
      const raw = (env[envName(k)] || '').trim()
      if (raw) {
        // an end user's typo in the environment must not break the host program
        v = k === 'headers' ? parseHeaders(raw) : typeof d === 'boolean' ? parseBool(raw) : typeof d === 'number' ? +raw : raw
        if (typeof d === 'number' && !isFinite(v)) v = undefined
        const r = RULES[k]
        if (typeof d === 'string' && r && r.indexOf(v) < 0) v = undefined
      }
    }
    cfg[k] = v == null ? (isObj(d) ? {} : d) : v
  }
  for (const k of BACKEND_OPTIONS) if (k in options && k !== 'env') cfg[k] = (options as any)[k]
  // OTLP over HTTP with JSON bodies is what this SDK sends (an environment value is not checked: it cannot break the host)
  if (cfg.protocol != null && cfg.protocol !== 'http/json') bad("protocol must be 'http/json', got " + cfg.protocol, 1)
  if (typeof cfg.headers === 'string') cfg.headers = parseHeaders(cfg.headers)
  validate(cfg)
  return cfg
}

const validate = (c: any): void => {
  if (typeof c.projectName !== 'string' || !c.projectName.trim()) bad('projectName must be a non-empty string', 1)
  for (const k in DEFAULTS) {
    const v = c[k]
    const d = (DEFAULTS as any)[k]
    const r = RULES[k]
    const [lo, hi, int] = r || []
    if (typeof d === 'number') {
      if (typeof v !== 'number' || (int && !Number.isInteger(v))) bad(`${k} must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}]; got ${String(v)}`, 1)
      if (!(v >= lo && v <= hi)) bad(`${k} must be in [${lo}, ${hi}]; got ${v}`)
    } else if (typeof d === 'boolean') {
      if (typeof v !== 'boolean') bad(k + ' must be true or false', 1)
    } else if (isObj(d)) {
      if (!isObj(v) || (k === 'headers' && Object.keys(v).some((h) => typeof v[h] !== 'string'))) bad(k + ' must be an object' + (k === 'headers' ? ' of strings' : ''), 1)
    } else if (!r) {
    } else if (d === undefined) {
      if (v != null && typeof v !== lo) bad(`${k} must be a ${lo}`, 1)
    } else if (r.indexOf(v) < 0) bad(`${k} must be one of ${r.join(', ')}; got ${String(v)}`)
  }
}

/** Validate a backend URL at construction; plain http only to loopback unless allowInsecure. */
export const checkEndpoint = (url: unknown, allowInsecure: boolean, option = 'endpoint'): string => {
  let u: URL | undefined
  try {
    u = new URL(String(url).trim())
  } catch {}
  if (typeof url !== 'string' || !u || !/^https?:$/.test(u.protocol) || !u.hostname) {
    return bad(`${option} must be an http(s) URL`, 1)
  }
  if (u.protocol === 'http:' && !allowInsecure && !/^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(u.hostname)) {
    bad(`${option}: plain http only to loopback; use https:// or allowInsecure: true`)
  }
  return url.trim()
}
