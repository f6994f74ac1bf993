// A loopback collector for the browser tests: records every request, answers CORS like a real
// OTLP receiver, and misbehaves on purpose (latency, status codes, dying and coming back).
import http from 'node:http'
import zlib from 'node:zlib'

/** Flatten OTLP AnyValue into a plain JS value. */
function anyValue (v) {
  if (!v || typeof v !== 'object') return v
  if ('stringValue' in v) return v.stringValue
  if ('boolValue' in v) return v.boolValue
  if ('intValue' in v) return Number(v.intValue)
  if ('doubleValue' in v) return v.doubleValue
  if ('arrayValue' in v) return (v.arrayValue.values || []).map(anyValue)
  if ('kvlistValue' in v) return attrs(v.kvlistValue.values)
  return null
}
function attrs (list) {
  const out = {}
  for (const kv of list || []) out[kv.key] = anyValue(kv.value)
  return out
}

/** Records of one request body: {name, id, type, attributes, resource}. */
export function recordsOf (path, body) {
  const out = []
  if (!body || typeof body !== 'object') return out
  if (path === '/collect') {
    for (const r of body.records || []) out.push({ name: r.name, id: r.id, type: r.type, attributes: r.attributes || {}, resource: body.resource || {} })
    return out
  }
  for (const rs of body.resourceSpans || []) {
    const resource = attrs(rs.resource && rs.resource.attributes)
    for (const ss of rs.scopeSpans || []) {
      for (const s of ss.spans || []) {
        const a = attrs(s.attributes)
        out.push({ name: s.name, id: s.traceId + s.spanId, type: a['astrid.record.type'] || 'span', attributes: a, resource })
      }
    }
  }
  for (const rl of body.resourceLogs || []) {
    const resource = attrs(rl.resource && rl.resource.attributes)
    for (const sl of rl.scopeLogs || []) {
      for (const l of sl.logRecords || []) {
        const a = attrs(l.attributes)
        out.push({ name: l.eventName || a['event.name'] || 'log', id: a['log.record.uid'] || l.spanId, type: a['astrid.record.type'] || 'log', attributes: a, resource })
      }
    }
  }
  for (const rm of body.resourceMetrics || []) {
    const resource = attrs(rm.resource && rm.resource.attributes)
    for (const sm of rm.scopeMetrics || []) for (const m of sm.metrics || []) out.push({ name: m.name, id: null, type: 'metric', attributes: {}, resource })
  }
  return out
}

export class Collector {
  constructor () {
    this.requests = [] // {method, path, headers, bytes, body, records, at}
    this.latency = 0 // ms before answering a POST
    this.status = 200 // answer for POSTs
    this.server = null
    this.port = 0
    this.sockets = new Set()
    this.waiters = []
  }

  get url () { return 'http://127.0.0.1:' + this.port }

  /** Start listening (again, on the same port after die()). */
  async start () {
    this.server = http.createServer((req, res) => this.handle(req, res))
    this.server.keepAliveTimeout = 1000
    this.server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)) })
    await new Promise((resolve, reject) => {
      this.server.once('error', reject)
      this.server.listen(this.port, '127.0.0.1', () => { this.port = this.server.address().port; resolve() })
    })
    return this
  }

  /** Stop listening and cut every open connection: the endpoint is dead (connection refused). */
  async die () {
    if (!this.server) return
    const s = this.server
    this.server = null
    for (const sock of this.sockets) sock.destroy()
    await new Promise((resolve) => s.close(() => resolve()))
  }

  async stop () { await this.die() }

  handle (req, res) {
    const origin = req.headers.origin
    const cors = origin ? { 'Access-Control-Allow-Origin': origin, Vary: 'Origin' } : {}
    if (req.method === 'OPTIONS') {
      res.writeHead(204, { ...cors, 'Access-Control-Allow-Methods': 'POST, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type, Content-Encoding', 'Access-Control-Max-Age': '600' })
      return res.end()
    }
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      let raw = Buffer.concat(chunks)
      const rec = { method: req.method, path: req.url, headers: req.headers, bytes: raw.length, body: null, records: [], at: Date.now() }
      try {
        if (/gzip/i.test(req.headers['content-encoding'] || '')) raw = zlib.gunzipSync(raw)
        rec.body = JSON.parse(raw.toString('utf8'))
        rec.records = recordsOf(req.url.split('?')[0], rec.body)
      } catch (e) {
        rec.error = String(e)
      }
      const answer = () => {
        this.requests.push(rec)
        this.wake()
        res.writeHead(this.status, { ...cors, 'Content-Type': 'application/json' })
        res.end('{}')
      }
      if (this.latency) setTimeout(answer, this.latency)
      else answer()
    })
  }

  wake () {
    for (const w of this.waiters.slice()) w()
  }

  /** Every record received so far (in arrival order). */
  records (name) {
    const all = this.requests.flatMap((r) => r.records)
    return name ? all.filter((r) => r.name === name) : all
  }

  /** Wait until predicate(this) is truthy, or fail after `ms`. */
  async until (predicate, ms = 10000, what = 'a condition') {
    const deadline = Date.now() + ms
    for (;;) {
      const v = predicate(this)
      if (v) return v
      const left = deadline - Date.now()
      if (left <= 0) {
        const bad = this.requests.filter((r) => r.error).map((r) => r.path + ' ' + r.bytes + ' B: ' + r.error)
        throw new Error('collector: timed out waiting for ' + what + '; got ' + JSON.stringify(this.records().map((r) => r.name)) + (bad.length ? '; unreadable requests: ' + bad.join(' | ') : ''))
      }
      await new Promise((resolve) => {
        const t = setTimeout(done, Math.min(left, 100))
        function done () { clearTimeout(t); resolve() }
        this.waiters.push(done)
      })
      this.waiters = []
    }
  }

  /** Wait for at least `n` records named `name`. */
  waitFor (name, n = 1, ms = 10000) {
    return this.until((c) => { const r = c.records(name); return r.length >= n ? r : null }, ms, n + ' × ' + name)
  }

  clear () { this.requests = [] }
}
