/** Backends that stay in the process: console (one line a record) and memory (for tests and demos). */
import type { Config } from '../config'
import { finalize, rfc3339 } from '../records'

/** `12:00:00.123 event  user.login  method="sso"`-style line. */
export const formatRecord = (r: any): string => {
  finalize(r)
  const t = r.type
  const a = r.attributes || {}
  const extra =
    t === 'metric'
      ? r.metricType === 'histogram'
        ? ` count=${r.count} sum=${r.sum}`
        : ` value=${r.value}`
      : t === 'log' || t === 'error'
        ? ` [${r.severityText}] ${r.body}`
        : t === 'span'
          ? ` status=${r.status || 'unset'}`
          : ''
  // the stack trace would take many lines
  const attrs = Object.keys(a).map((k) => (k === 'exception.stacktrace' ? '' : ` ${k}=${JSON.stringify(a[k])}`))
  return `${rfc3339(r.time).slice(11, 23)} ${(t + '      ').slice(0, 6)} ${r.name}${extra} ${attrs.join('')}`.trim()
}

export const consoleBackend = (_cfg?: Config) => ({
  name: 'console',
  export(batch: { records: any[] }) {
    const c: any = (globalThis as any).console
    for (const r of batch.records) (c.error || c.log)('astrid ' + formatRecord(r))
  },
})

/** What `memoryBackend()` gives: the records and batches exported, newest last. */
export interface MemoryBackend {
  name: string
  records: any[]
  batches: { records: any[]; resource: Record<string, unknown> }[]
  resource: Record<string, unknown>
  export(batch: { records: any[]; resource: Record<string, unknown> }): void
  ofType(...types: string[]): any[]
  readonly events: any[]
  readonly spans: any[]
  readonly metrics: any[]
  readonly logs: any[]
  readonly errors: any[]
  clear(): void
  shutdown(): void
}

/**
 * Keeps exported records in `records` and `batches` (the newest `maxRecords`, default 100000), for tests:
 * `backend: 'memory'` (then `client.backends[0]`), or `backend: memoryBackend({maxRecords: 10})`.
 */
export const memoryBackend = (cfg?: { maxRecords?: number } | Config): MemoryBackend => {
  const max = (cfg && (cfg.maxRecords as number)) || 100000
  /** records in `batches`: they are bounded by maxRecords too (the oldest batches go first) */
  let held = 0
  const m: any = {
    name: 'memory',
    records: [],
    batches: [],
    resource: {},
    export(batch: { records: any[]; resource: Record<string, unknown> }) {
      m.records.push(...batch.records)
      m.batches.push({ records: batch.records.slice(), resource: batch.resource })
      m.resource = batch.resource
      if (m.records.length > max) m.records.splice(0, m.records.length - max)
      for (held += batch.records.length; held > max && m.batches.length > 1; ) held -= m.batches.shift().records.length
    },
    ofType: (...types: string[]) => m.records.filter((r: any) => types.indexOf(r.type) >= 0),
    // in place, as Python's: a test holding m.records sees it empty
    clear() {
      m.records.length = m.batches.length = held = 0
    },
    shutdown() {},
  }
  for (const t of 'event span metric log error'.split(' ')) Object.defineProperty(m, t + 's', { get: () => m.ofType(t) })
  return m
}
