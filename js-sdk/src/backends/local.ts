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

/** Keeps exported records in `records` (the newest `maxRecords`, default 100000). */
export const memoryBackend = (cfg?: Config) => {
  const max = (cfg && cfg.maxRecords) || 100000
  const m = {
    name: 'memory',
    records: [] as any[],
    resource: {} as Record<string, unknown>,
    export(batch: { records: any[]; resource: Record<string, unknown> }) {
      m.records.push(...batch.records)
      m.resource = batch.resource
      if (m.records.length > max) m.records.splice(0, m.records.length - max)
    },
    ofType: (...types: string[]) => m.records.filter((r) => types.indexOf(r.type) >= 0),
    shutdown() {},
  }
  return m
}
