// A loopback HTTP receiver that misbehaves on purpose: each request is answered by the next scripted reply.
import { createServer } from 'node:http'
import { gunzipSync } from 'node:zlib'

/**
 * replies: functions (req, res, n) => void|'hang'|'reset' taken in turn; the last one repeats.
 * Every request is recorded: {path, headers, body (decoded JSON or text), at (ms)}.
 */
export const receiver = async (replies = [ok]) => {
  const requests = []
  const sockets = new Set()
  const server = createServer((req, res) => {
    const chunks = []
    req.on('data', (c) => chunks.push(c))
    req.on('end', () => {
      let raw = Buffer.concat(chunks)
      if (req.headers['content-encoding'] === 'gzip') raw = gunzipSync(raw)
      let body = raw.toString('utf8')
      try {
        body = JSON.parse(body)
      } catch {}
      const n = requests.length
      const entry = { path: req.url, headers: req.headers, body, raw: Buffer.concat(chunks), at: Date.now(), status: 0 }
      requests.push(entry)
      res.on('finish', () => (entry.status = res.statusCode))
      const reply = replies[Math.min(n, replies.length - 1)]
      const what = reply(req, res, n)
      if (what === 'reset') req.socket.destroy()
    })
  })
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const url = `http://127.0.0.1:${server.address().port}`
  return {
    url,
    requests,
    /** records received by the generic http backend */
    records: () => requests.filter((r) => r.status === 200 && r.body && r.body.records).flatMap((r) => r.body.records),
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy()
        server.close(() => r())
      }),
  }
}

export const ok = (req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
export const status = (code, headers = {}) => (req, res) => res.writeHead(code, headers).end('{"error":"scripted"}')
export const hang = () => 'hang'
export const reset = () => 'reset'
export const slow = (ms) => (req, res) => setTimeout(() => ok(req, res), ms)
export const until = async (cond, ms = 5000) => {
  const end = Date.now() + ms
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 10))
  return cond()
}
