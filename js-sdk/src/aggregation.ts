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
  let series = new Map<string, any>()
  let start = now()
  const a: Aggregator = {
    dropped: 0,
    size: () => series.size,
    record(name, value, type, attributes, unit) {
      const k = name + '\0' + type + '\0' + keyOf(attributes)
      let s = series.get(k)
      if (!s) {
        if (series.size >= maxSeries) return !++a.dropped
        s = { name, type, attributes: { ...attributes }, unit, value: 0, count: 0, sum: 0, min: Infinity, max: -Infinity, buckets: type === 'histogram' ? BOUNDS.map(() => 0).concat(0) : [] }
        series.set(k, s)
      }
      if (type === 'counter') s.value += value
      else if (type === 'gauge') s.value = value
      else {
        let i = 0
        while (i < BOUNDS.length && BOUNDS[i] < value) i++
        s.buckets[i]++
        s.sum += value
        s.min = Math.min(s.min, value)
        s.max = Math.max(s.max, value)
      }
      s.count++
      return true
    },
    collect() {
      const t = now()
      const out: TelemetryRecord[] = []
      series.forEach((s) => {
        const r: TelemetryRecord = { type: 'metric', id: newId(), name: s.name, metricType: s.type, attributes: s.attributes, start, time: t, value: s.value, count: s.count, unit: s.unit }
        if (s.type === 'histogram') Object.assign(r, { value: undefined, sum: s.sum, min: s.min, max: s.max, bounds: BOUNDS, bucketCounts: s.buckets })
        out.push(r)
      })
      series = new Map()
      start = t
      return out
    },
  }
  return a
}
