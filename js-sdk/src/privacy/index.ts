/** The privacy engine: removes secrets, hashes identifiers, scrubs PII from values and enforces limits (as Python's PrivacyEngine). */
import { finalize, safeStr, TelemetryRecord } from '../records'
import { ACTIONS, KINDS } from './detectors'
import { hmacHex } from './hmac'
import { DEFAULT_HASH_KEYS, DEFAULT_SECRET_KEYS, KEY_ALLOW, KEY_DENY, KEY_HASH, keyRules } from './keys'
import { scrubber } from './scrubber'

export { DEFAULT_HASH_KEYS, DEFAULT_SECRET_KEYS, KINDS as DETECTOR_KINDS }

/** What the engine removes, hashes and limits; Python's PrivacyConfig in camelCase. Every option has a safe default. */
export interface PrivacyOptions {
  /** detector kind (DETECTOR_KINDS) → "redact" (default), "hash", "mask", "drop" (remove the attribute) or "off" */
  actions?: Record<string, string>
  secretKeys?: string[]
  hashKeys?: string[]
  allowKeys?: string[]
  denyKeys?: string[]
  /** key of the identifier hashes; unset: derived from projectName */
  salt?: string | Uint8Array | null
  projectName?: string
  maxAttributes?: number
  maxKeyLength?: number
  maxValueLength?: number
  maxDepth?: number
  maxListLength?: number
}

type Attrs = Record<string, unknown>

/** Sanitizes records before they leave the process. Nothing here throws or rejects. */
export interface PrivacyEngine {
  /** Sanitized copies of the records; one that cannot be sanitized is dropped and counted, never sent. */
  sanitizeBatch(records: TelemetryRecord[]): Promise<TelemetryRecord[]>
  /** A sanitized copy of the record, or null when it cannot be sanitized. */
  sanitizeRecord(record: TelemetryRecord): Promise<TelemetryRecord | null>
  /** Attributes with key rules, value detectors and limits applied (a new object; {} on failure). */
  sanitizeAttributes(attributes: Attrs): Promise<Attrs>
  /** Free text (a log body, a message): detected values replaced, length limited ("" on failure). */
  sanitizeText(text: string): Promise<string>
  /** HMAC-SHA256 of the value under the salt, as 32 hex digits. */
  hashValue(value: string): Promise<string>
  /** What was removed so far, by detector kind and by rule (non-zero counts only); never the values. */
  stats(): Record<string, number>
}

const MARK = '...[truncated]'
// the longest value a detector looks at, so a value cut at the limit is still scanned whole
const OVERLAP = 512
const DROP = {}
// [option, default, lowest, highest]
const LIMITS: [string, number, number, number][] = [
  ['maxAttributes', 128, 1, 1e5],
  ['maxKeyLength', 256, 8, 1e5],
  ['maxValueLength', 4096, 32, 1e8],
  ['maxDepth', 5, 1, 64],
  ['maxListLength', 128, 1, 1e6],
]
/** `s` with every lone surrogate replaced by U+FFFD, as TextEncoder (and Python's engine) does */
const wf = (s: any): string => (s.isWellFormed && s.isWellFormed() ? s : s.replace(/[\ud800-\udbff][\udc00-\udfff]|[\ud800-\udfff]/g, (c: string) => (c[1] ? c : '\ufffd')))
const isMap = (v: any): boolean => v instanceof Map || (!!v && typeof v == 'object' && [Object.prototype, null].includes(Object.getPrototypeOf(v)))
const items = (v: any): any[] | 0 => (Array.isArray(v) || v instanceof Set ? [...v] : 0)
// any value as well-formed text
const text = (v: any): string => wf(ArrayBuffer.isView(v) ? new TextDecoder().decode(v) : safeStr(v))
/** an item of a list that is not a string, number or boolean: a list or plain object as JSON (not "[object Object]"), else as text */
const item = (v: any): string => {
  try {
    if (v && (Array.isArray(v) || Object.getPrototypeOf(v) === Object.prototype)) return wf(JSON.stringify(v))
  } catch {}
  return text(v)
}
/** `t` cut to `limit` code points (its end when `tail`) with a marker (`force`: something was cut already). */
const truncate = (t: string, limit: number, tail?: any, force?: any, mark = MARK): string => {
  if (t.length <= limit && !force) return t
  const c = [...t]
  if (c.length <= limit && !force) return t
  const keep = Math.min(c.length, limit - mark.length)
  return tail ? mark + c.slice(-keep).join('') : c.slice(0, keep).join('') + mark
}
const cut = (s: string, n: number, tail?: any): string => truncate(s, n, tail, 0, '')

const fail = (e: any, m: string): never => {
  throw new e('privacy.' + m)
}

/** A privacy engine; bad options throw TypeError or RangeError naming the option. */
export const createPrivacyEngine = (o: PrivacyOptions = {}): PrivacyEngine => {
  const actions: Record<string, string> = {}
  const total: Record<string, number> = {}
  const cache = new Map<string, string | null>()
  const keys = new Map<string, number>()
  let cur: Record<string, number> = {}
  let miss = new Set<string>()
  // set when a detector whose action is `drop` matched
  let dropped: any

  if (o.actions != null && typeof o.actions != 'object') fail(TypeError, 'actions must be an object')
  KINDS.forEach((k) => (actions[k] = 'redact'))
  for (const [k, a] of Object.entries(o.actions || {})) {
    if (!KINDS.includes(k)) fail(RangeError, `actions: unknown detector ${k}; use one of ${KINDS}`)
    if (!ACTIONS.includes(a)) fail(RangeError, `actions.${k} must be one of ${ACTIONS}; got ${a}`)
    actions[k] = a
  }
  const rule = keyRules(
    ...(['secretKeys', 'hashKeys', 'allowKeys', 'denyKeys'] as const).map((n, i) => {
      const v = o[n] == null ? [DEFAULT_SECRET_KEYS, DEFAULT_HASH_KEYS, [], []][i] : o[n]
      if (!Array.isArray(v) || v.some((k) => typeof k != 'string')) fail(TypeError, n + ' must be an array of strings')
      return v as string[]
    }) as [string[], string[], string[], string[]],
  )
  const [maxAttributes, maxKey, max, maxDepth, maxList] = LIMITS.map(([n, d, lo, hi]) => {
    const v = (o as any)[n] == null ? d : (o as any)[n]
    if (!Number.isInteger(v) || v < lo || v > hi) fail(RangeError, `${n} must be an integer in [${lo}, ${hi}]; got ${v}`)
    return v
  })
  let salt: any = o.salt
  if (salt == null) {
    // stable for one project, different for every other: hashes cannot be joined across projects
    salt = 'astrid-privacy-salt:' + (o.projectName || '')
  } else if (!(typeof salt == 'string' || salt instanceof Uint8Array) || !salt.length) {
    fail(TypeError, 'salt must be a non-empty string or Uint8Array')
  }
  const mac = hmacHex(typeof salt == 'string' ? new TextEncoder().encode(salt) : salt)
  const count = (k: string): void => {
    cur[k] = (cur[k] || 0) + 1
  }

  // A hash from the cache; a miss is noted ('' for now) and the caller's round is run again
  // once the misses are hashed. null: no WebCrypto here, so the value is removed instead.
  // (Values are well-formed text here: slices of scanned text at code point boundaries, or text().)
  const hash = (v: string): string | null => (cache.has(v) ? cache.get(v)! : (miss.add(v), ''))
  // the replacement of one found value (counted by kind; `drop` redacts here, the caller drops the attribute)
  const rep = (kind: string, action: string, v: string): string => {
    let h
    count(kind)
    if (action == 'drop') dropped = 1
    return action == 'mask'
      ? `[MASKED:${kind}:${(v.match(/[\p{L}\p{N}]/gu) || []).slice(-4).join('')}]`
      : action == 'hash' && (h = hash(v)) != null
        ? `[HASHED:${kind}:${h}]`
        : kind == 'home_path'
          ? '~'
          : `[REDACTED:${kind}]`
  }
  const scrub = scrubber(actions, rep, miss)

  const scan = (t: string, tail?: any): string => {
    // no need to scan what truncation throws away
    const c = cut((t = wf(t)), max + OVERLAP, tail)
    const over = c != t
    t = scrub(c)
    if (over || cut(t, max) != t) {
      count('values_truncated')
      t = truncate(t, max, tail, true)
      // cutting can complete a pattern (a 20-digit run cut to a valid card): scan the cut text again
      for (let i = 0, again; i < 4 && (again = scrub(t)) != t; i++) t = truncate(again, max, tail)
    }
    return t
  }

  // an identifier's hash (a boolean stays)
  const hashOne = (v: any): any => {
    if (typeof v == 'boolean') return v
    const s = text(v)
    const h = /^hash:[0-9a-f]{32}$/.test(s) ? s : hash(s)
    return h == s || h == null ? h : 'hash:' + h
  }

  const value = (v: any, trusted: any, tail: any): any => {
    const t = typeof v
    let list: any
    if (t == 'string') {
      if (trusted) return truncate(wf(v), max, tail)
      dropped = 0
      v = scan(v, tail)
      return dropped ? DROP : v
    }
    if (t == 'boolean') return v
    if (t == 'number') {
      if (!isFinite(v)) return v != v ? 'nan' : v > 0 ? 'inf' : '-inf'
      // a card number stored as a number is still a card number
      return trusted || !Number.isInteger(v) || Math.abs(v) < 1e12 || (list = value(String(v), 0, 0)) == String(v) ? v : list
    }
    if (t == 'bigint') return value(Number.isSafeInteger(Number(v)) ? Number(v) : String(v), trusted, tail)
    if ((list = items(v))) {
      const out: any[] = []
      return list.slice(0, maxList).some((x: any) => (x = value(/^[sbn]/.test(typeof x) ? x : item(x), trusted, 0)) === DROP || !out.push(x)) ? DROP : out
    }
    return value(text(v), trusted, tail)
  }

  const walk = (a: any, prefix: string, depth: number, out: Map<string, unknown>): void => {
    for (let [k, v] of a instanceof Map ? a : Object.entries(a)) {
      // a key can hold what a value holds: {"ada@example.com": 1}, {"GET /r?token=x": 2}
      const raw = (k = prefix + text(k))
      let r = keys.get(raw)
      if (r == null) {
        dropped = 0
        k = cut(scrub(cut(raw, maxKey)), maxKey)
        if (dropped) {
          count('attributes_dropped')
          continue
        }
        // our placeholders say nothing about the key (and sanitizing twice must change nothing)
        r = rule(k.replace(/\[(?:REDACTED|HASHED|MASKED):[^\]]*\]/g, ''))
        // the rules of keys that needed no change are remembered (a flood of distinct keys clears them)
        if (k == raw) keys.size > 4095 ? keys.clear() : keys.set(raw, r)
      }
      if (r == KEY_DENY) {
        count('keys_removed')
        continue
      }
      if (v == null) continue
      if (isMap(v)) {
        if (depth < maxDepth) {
          walk(v, k + '.', depth + 1, out)
          continue
        }
        v = '[nested too deep]'
      }
      if (out.size >= maxAttributes && !out.has(k)) {
        count('attributes_dropped')
        continue
      }
      if (r == KEY_HASH) {
        const list = items(v)
        const h: any = list ? list.slice(0, maxList).filter((x) => x != null).map(hashOne) : hashOne(v)
        if (h == null || (list && h.includes(null))) count('keys_removed')
        else {
          // a value hashed already (sanitized twice) is not counted again
          if (JSON.stringify(h) != JSON.stringify(v)) count('keys_hashed')
          out.set(k, h)
        }
        continue
      }
      const c = value(v, r == KEY_ALLOW, k == 'exception.stacktrace')
      if (c === DROP) count('attributes_dropped')
      else out.set(k, c)
    }
  }
  const attrs = (a: any): Attrs => {
    const out = new Map<string, unknown>()
    if (isMap(a)) walk(a, '', 1, out)
    return Object.fromEntries(out)
  }

  // names of events, spans, span events and metrics are scanned like text (a name that is a URL
  // keeps its path and loses secret query values)
  const name = (n: any): any => (n == null ? n : scan(text(n)))
  const record = (r: TelemetryRecord): TelemetryRecord => {
    finalize(r)
    const o: TelemetryRecord = { ...r, name: name(r.name), attributes: attrs(r.attributes) }
    if (r.description) o.description = name(r.description)
    if (r.unit) o.unit = name(r.unit)
    if (r.type != 'event' && r.type != 'metric') {
      if (r.body != null) o.body = name(r.body)
      if (r.statusMessage) o.statusMessage = name(r.statusMessage)
      if (r.events) o.events = r.events.map((e) => ({ ...e, name: name(e.name), attributes: attrs(e.attributes) }))
    }
    return o
  }

  // Runs fn until no hash is missing (hashing is asynchronous in WebCrypto); only the counts of
  // the final round are kept. Never rejects: on failure the fallback is returned.
  const run = async <T>(fn: () => T, fallback: T): Promise<T> => {
    try {
      if (cache.size > 4096) cache.clear()
      // a round per scrubbing pass that needs new hashes, at most (see scrubber)
      for (let i = 0; i < 6; i++) {
        cur = {}
        miss.clear()
        const r = fn()
        if (!miss.size) {
          for (const k in cur) total[k] = (total[k] || 0) + cur[k]
          return r
        }
        await Promise.all([...miss].map(async (v) => cache.set(v, await mac(v).catch(() => null))))
      }
    } catch {}
    total.records_failed = (total.records_failed || 0) + 1
    return fallback
  }

  const batch = (rs: TelemetryRecord[]): Promise<TelemetryRecord[]> =>
    run(
      () =>
        rs
          .map((r) => {
            try {
              return record(r)
            } catch {
              count('records_failed')
            }
          })
          .filter(Boolean) as TelemetryRecord[],
      [],
    )

  return {
    sanitizeBatch: batch,
    sanitizeRecord: async (r) => (await batch([r]))[0] || null,
    sanitizeAttributes: (a) => run(() => attrs(a), {}),
    sanitizeText: (t) => run(() => scan(text(t)), ''),
    hashValue: async (v) => mac(text(v)),
    stats: () => ({ ...total }),
  }
}
