// Caller cost of trackEvent against OpenTelemetry JS startSpan().end() in the same run, and memory
// per queued event. `node --expose-gc bench/speed.mjs` (after `npm run build`).
import { trace } from '@opentelemetry/api'
import { BasicTracerProvider, BatchSpanProcessor } from '@opentelemetry/sdk-trace-base'
import { TelemetryClient } from '../dist/astrid.mjs'

const N = 50_000
const ROUNDS = 9
const nop = { name: 'nop', export() {}, shutdown() {} }

// Astrid: a client that is on, exporting to a backend that does nothing (the caller's cost only)
const astrid = new TelemetryClient({ projectName: 'bench', enabled: true, backend: nop, env: {}, installAtexit: false, maxQueueSize: N, batchSize: N, flushInterval: 3600 })
// OpenTelemetry: the SDK tracer with its batch processor as configured by default, and an exporter that does nothing
const exporter = { export: (spans, done) => done({ code: 0 }), shutdown: async () => {} }
const provider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(exporter)] })
const tracer = provider.getTracer('bench')

const attrs = { method: 'sso', plan: 'pro', n: 3 }
const runs = {
  'astrid trackEvent': () => {
    for (let i = 0; i < N; i++) astrid.trackEvent('user.login', attrs)
  },
  'OpenTelemetry startSpan().end()': () => {
    for (let i = 0; i < N; i++) tracer.startSpan('user.login', { attributes: attrs }).end()
  },
}
const times = Object.fromEntries(Object.keys(runs).map((k) => [k, []]))
for (let r = 0; r < ROUNDS; r++) {
  // interleaved rounds, each side's queue emptied between them so neither grows without bound
  for (const [name, fn] of Object.entries(runs)) {
    const t0 = process.hrtime.bigint()
    fn()
    times[name].push(Number(process.hrtime.bigint() - t0) / N)
    if (name.startsWith('astrid')) await astrid.flush(30)
    else await provider.forceFlush()
    globalThis.gc && globalThis.gc()
  }
}
const median = (a) => a.slice().sort((x, y) => x - y)[a.length >> 1]
const a = median(times['astrid trackEvent'])
const o = median(times['OpenTelemetry startSpan().end()'])
console.log(`trackEvent caller cost, median of ${ROUNDS} interleaved rounds of ${N} calls (Node ${process.versions.node})`)
console.log(`  astrid trackEvent                 ${a.toFixed(0)} ns/call`)
console.log(`  OpenTelemetry startSpan().end()   ${o.toFixed(0)} ns/call`)
console.log(`  ratio                             ${(a / o).toFixed(3)}x  (goal <= 0.1x)`)
await astrid.shutdown(5)
await provider.shutdown()

// memory per queued event: a client whose worker never takes a batch (pending consent)
if (globalThis.gc) {
  const M = 100_000
  const held = new TelemetryClient({ projectName: 'mem', enabled: true, backend: nop, env: {}, installAtexit: false, maxQueueSize: M, batchSize: M, flushInterval: 3600 })
  gc()
  const before = process.memoryUsage().heapUsed
  for (let i = 0; i < M; i++) held.trackEvent('user.login', { method: 'sso', plan: 'pro', n: i })
  gc()
  const after = process.memoryUsage().heapUsed
  console.log(`memory per queued event (3 attributes): ${((after - before) / M).toFixed(0)} bytes (${M} queued; queue bounded by maxQueueSize)`)
  await held.shutdown(0)
} else console.log('memory per queued event: run with node --expose-gc')
