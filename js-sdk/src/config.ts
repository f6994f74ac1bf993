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

/** Every client option and its default (the docs' table is generated from this and OPTION_DOCS). */
export const DEFAULTS = {
  projectName: '',
  version: undefined as string | undefined,
  backend: 'otlp' as Options['backend'],
  endpoint: undefined as string | undefined,
  headers: {} as Record<string, string>,
  enabled: undefined as boolean | undefined,
  batchSize: 512,
  flushInterval: 5,
  maxQueueSize: 20000,
  compression: 'gzip',
  compressionLevel: 1,
  timeout: 10,
  shutdownTimeout: 5,
  sampleRate: 1,
  resourceAttributes: {} as Record<string, unknown>,
  beforeSend: undefined as ((r: any) => any) | undefined,
  privacy: undefined as any,
  eventsAs: 'spans',
  allowInsecure: false,
  backoffBase: 0.5,
  backoffMax: 30,
  retryAfterMax: 60,
  breakerThreshold: 5,
  breakerCooldown: 10,
  maxMetricSeries: 2000,
  installAtexit: true,
  debug: false,
}
export type Config = typeof DEFAULTS & { env: Record<string, string | undefined>; [k: string]: any }

/** Options an end user may set through the environment (Node): ASTRID_<NAME IN SNAKE CASE>. */
export const ENV_OPTIONS = /* @__PURE__ */ 'backend endpoint headers batchSize flushInterval maxQueueSize compression compressionLevel timeout shutdownTimeout sampleRate eventsAs allowInsecure debug'.split(' ')
export const envName = (o: string): string => 'ASTRID_' + o.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()

/** [low, high, integer?] of the numeric options */
const RANGES: Record<string, [number, number, 1?]> = {
  batchSize: [1, 1e6, 1], maxQueueSize: [1, 1e8, 1], compressionLevel: [1, 9, 1], breakerThreshold: [1, 1e6, 1], maxMetricSeries: [1, 1e7, 1],
  flushInterval: [0.001, 86400], timeout: [0.001, 3600], shutdownTimeout: [0, 3600], sampleRate: [0, 1],
  backoffBase: [0, 3600], backoffMax: [0, 86400], retryAfterMax: [0, 86400], breakerCooldown: [0, 86400],
}
const CHOICES: Record<string, string[]> = { compression: ['gzip', 'none'], eventsAs: ['spans', 'logs'] }
const BOOLS = ['allowInsecure', 'installAtexit', 'debug']
/** Options of the built-in backends (besides the client's own). */
export const BACKEND_OPTIONS = ['signingSecret', 'database', 'username', 'password', 'schema', 'tablePrefix', 'createSchema', 'ttlDays', 'protocol', 'tracesEndpoint', 'metricsEndpoint', 'logsEndpoint', 'env', 'storage']

const g: any = globalThis
/** The process environment in Node (a copy), {} elsewhere. */
export const environ = (): Record<string, string | undefined> => {
  try {
    return __NODE__ && g.process && g.process.env ? { ...g.process.env } : {}
  } catch {
    return {}
  }
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
    if (!(k in DEFAULTS) && BACKEND_OPTIONS.indexOf(k) < 0) bad(`unknown option ${k}`, 1)
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
        if (CHOICES[k] && CHOICES[k].indexOf(v) < 0) v = undefined
      }
    }
    cfg[k] = v == null ? (isObj(d) ? {} : d) : v
  }
  for (const k of BACKEND_OPTIONS) if (k in options && k !== 'env') cfg[k] = (options as any)[k]
  if (typeof cfg.headers === 'string') cfg.headers = parseHeaders(cfg.headers)
  validate(cfg)
  return cfg
}

const validate = (c: any): void => {
  if (typeof c.projectName !== 'string' || !c.projectName.trim()) bad('projectName must be a non-empty string', 1)
  if (c.version != null && typeof c.version !== 'string') bad('version must be a string', 1)
  if (c.enabled != null && typeof c.enabled !== 'boolean') bad('enabled must be true, false or undefined', 1)
  for (const k in RANGES) {
    const [lo, hi, int] = RANGES[k]
    const v = c[k]
    if (typeof v !== 'number' || (int && !Number.isInteger(v))) bad(`${k} must be ${int ? 'an integer' : 'a number'} in [${lo}, ${hi}]; got ${String(v)}`, 1)
    if (!(v >= lo && v <= hi)) bad(`${k} must be in [${lo}, ${hi}]; got ${v}`)
  }
  for (const k in CHOICES) if (CHOICES[k].indexOf(c[k]) < 0) bad(`${k} must be one of ${CHOICES[k].join(', ')}; got ${String(c[k])}`)
  for (const k of BOOLS) if (typeof c[k] !== 'boolean') bad(`${k} must be true or false`, 1)
  if (!isObj(c.headers) || Object.keys(c.headers).some((k) => typeof c.headers[k] !== 'string')) bad('headers must be an object of strings', 1)
  if (!isObj(c.resourceAttributes)) bad('resourceAttributes must be an object', 1)
  if (c.beforeSend != null && typeof c.beforeSend !== 'function') bad('beforeSend must be a function', 1)
  if (c.endpoint != null && typeof c.endpoint !== 'string') bad('endpoint must be a URL string', 1)
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
