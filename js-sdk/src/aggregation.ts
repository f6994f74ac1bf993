/** In-process metric aggregation: counter sums, gauge last values, histogram buckets per interval. */
import { newId, now, type TelemetryRecord } from './records'

export const METRIC_TYPES = ['counter', 'gauge', 'histogram']
/** OpenTelemetry's default explicit bucket boundaries. */
export const BOUNDS = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000]

const keyOf = (a: Record<string, unknown>): string => {
  try {
    return JSON.stringify(Object.keys(a).sort().map((k) => [k, a[k]]))
  } catch {
    return String(Math.random())
  }
}

export interface Aggregator {
  record(name: string, value: number, type: string, attributes: Record<string, unknown>, unit: string): boolean
  collect(): TelemetryRecord[]
  size(): number
  dropped: number
}

/** Folds trackMetric calls into one point per (name, type, attributes) and interval; series are bounded. */
export const aggregator = (maxSeries: number): Aggregator => {
  // each series is the record it becomes (collect() stamps its id and times)
  let series = new Map<string, TelemetryRecord>()
  let start = now()
  const a: Aggregator = {
    dropped: 0,
    size: () => series.size,
    record(name, value, type, attributes, unit) {
      const k = name + '\0' + type + '\0' + keyOf(attributes)
      const h = type === 'histogram'
      let s = series.get(k)
      if (!s) {
        if (series.size >= maxSeries) return !++a.dropped
        s = { type: 'metric', id: '', name, metricType: type as any, attributes: { ...attributes }, start: 0, time: 0, value: 0, count: 0, unit }
        if (h) Object.assign(s, { value: undefined, sum: 0, min: Infinity, max: -Infinity, bounds: BOUNDS, bucketCounts: BOUNDS.map(() => 0).concat(0) })
        series.set(k, s)
      }
      s.count!++
      if (!h) s.value = type === 'counter' ? s.value! + value : value
      else {
        let i = 0
        while (i < BOUNDS.length && BOUNDS[i] < value) i++
        s.bucketCounts![i]++
        s.sum! += value
        s.min = Math.min(s.min!, value)
        s.max = Math.max(s.max!, value)
      }
      return true
    },
    collect() {
      const t = now()
      const out: TelemetryRecord[] = []
      series.forEach((r) => out.push(Object.assign(r, { id: newId(), start, time: t })))
      series = new Map()
      start = t
      return out
    },
  }
  return a
}
