/** Retry policy pieces: export results, backoff with full jitter, Retry-After, the circuit breaker. */

/** What one export attempt did; backends return it, the pipeline decides about retries. */
export interface ExportResult {
  ok: boolean
  retryable?: boolean
  retryAfter?: number
  reason?: string
  rejected?: number
  status?: number
  split?: boolean
}
export const success = (rejected = 0, status?: number): ExportResult => ({ ok: true, rejected, status })
export const retry = (reason: string, retryAfter?: number, status?: number): ExportResult => ({ ok: false, retryable: true, reason, retryAfter, status })
export const failure = (reason: string, status?: number): ExportResult => ({ ok: false, reason, status })
export const tooLarge = (reason = 'payload_too_large', status = 413): ExportResult => ({ ok: false, retryable: true, split: true, reason, status })
/** Factories for custom backends: `return ExportResult.retry('busy', 5)`. */
export const ExportResult = { success, retry, failure, tooLarge }

/** HTTP statuses worth another try (the OTLP spec's list plus 408 and 504). */
export const RETRYABLE = [408, 429, 500, 502, 503, 504]

/** Attempt n waits uniform(0, min(max, base·2ⁿ)) seconds. */
export const backoff = (attempt: number, base: number, max: number): number => Math.random() * Math.min(max, base * 2 ** Math.min(Math.max(attempt, 0), 62))

/** Seconds from a Retry-After value (delta-seconds or HTTP-date), capped; undefined if absent or bad. */
export const parseRetryAfter = (value: string | null | undefined, cap = 60, nowMs = Date.now()): number | undefined => {
  const v = (value || '').trim()
  if (!v) return
  let s = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(v) ? +v : NaN
  if (s !== s) {
    // HTTP-date (IMF-fixdate and the obsolete forms Date.parse understands), never a bare number
    if (!/[a-z]/i.test(v)) return
    const t = Date.parse(v)
    if (t !== t) return
    s = (t - nowMs) / 1000
  }
  return Math.max(0, Math.min(cap, s))
}

/** Classify an HTTP response: success, retry (with Retry-After), split (413) or permanent failure. */
export const fromStatus = (status: number, header: (name: string) => string | null | undefined, cap: number): ExportResult => {
  if (status >= 200 && status < 300) return success(0, status)
  const why = 'http_' + status
  if (status === 413) return tooLarge(why)
  if (RETRYABLE.indexOf(status) >= 0) return retry(why, parseRetryAfter(header('retry-after'), cap), status)
  return failure(why, status)
}

export interface Breaker {
  state_(): 'closed' | 'open' | 'half_open'
  allow_(): boolean
  /** seconds until allow_() may say yes (0 when closed) */
  wait_(): number
  ok_(): void
  fail_(): void
}

/**
 * closed → open after `threshold` consecutive failures → half-open after `cooldown` seconds (one probe
 * a cool-down) → closed. A failed probe re-opens it with a doubled cool-down (up to `maxCooldown`), as Python's CircuitBreaker.
 */
export const breaker = (threshold = 5, cooldown = 10, maxCooldown = 300, clock = (): number => Date.now() / 1000): Breaker => {
  let st: 'closed' | 'open' | 'half_open' = 'closed'
  let fails = 0
  let cd = cooldown
  /** when it opened, or when the last probe went out */
  let at = 0
  const since = (): number => clock() - at
  const open = (): void => {
    at = clock()
    st = 'open'
  }
  return {
    state_: () => (st === 'open' && since() >= cd ? 'half_open' : st),
    allow_: () => st === 'closed' || (since() >= cd && ((st = 'half_open'), (at = clock()), true)),
    wait_: () => (st === 'closed' ? 0 : Math.max(0, cd - since())),
    ok_() {
      fails = 0
      cd = cooldown
      st = 'closed'
    },
    fail_() {
      fails++
      if (st === 'half_open') {
        cd = Math.min(Math.max(cooldown, maxCooldown), cd * 2)
        open()
      } else if (st === 'closed' && fails >= threshold) open()
    },
  }
}
