/** One HTTP POST with a deadline: node:http(s) in Node (sockets never keep the process alive), fetch elsewhere. */
import { nodeModule } from './consent'
import { SDK_VERSION } from './records'

export interface Response {
  status: number
  header(name: string): string | null | undefined
  text: string
}
type Body = string | Uint8Array

const g: any = globalThis
const enc = (b: Body): Uint8Array => (typeof b === 'string' ? new TextEncoder().encode(b) : b)

/** Bodies below this many bytes go uncompressed (as in Python's transport). */
export const GZIP_MIN_BYTES = 1024

const node = (): boolean => !!(g.process && g.process.versions && g.process.versions.node)

/** gzip `body` (node:zlib or CompressionStream); undefined where neither exists. */
export const gzip = async (body: Body, level: number): Promise<Uint8Array | undefined> => {
  if (__NODE__ && node()) {
    const z = await nodeModule('zlib')
    return new Promise((res) => z.gzip(enc(body), { level }, (e: any, out: Uint8Array) => res(e ? undefined : out)))
  }
  if (typeof g.CompressionStream !== 'function') return
  const s = new g.Blob([body]).stream().pipeThrough(new g.CompressionStream('gzip'))
  return new Uint8Array(await new g.Response(s).arrayBuffer())
}

/** POST; rejects with an Error whose message is a short reason (timeout, connection_error, ...). */
export const post = async (url: string, body: Body, headers: Record<string, string>, timeout: number, keepalive?: boolean): Promise<Response> => {
  if (__NODE__ && node()) return nodePost(url, body, headers, timeout)
  const ac = new AbortController()
  const t = setTimeout(() => ac.abort(), timeout * 1000)
  try {
    const r = await fetch(url, { method: 'POST', body: body as any, headers, signal: ac.signal, keepalive: !!keepalive && enc(body).length < 60000, credentials: 'omit' } as any)
    const text = await r.text()
    return { status: r.status, header: (n) => r.headers.get(n), text }
  } catch {
    throw new Error(ac.signal.aborted ? 'timeout' : 'connection_error')
  } finally {
    clearTimeout(t)
  }
}

const nodePost = async (url: string, body: Body, headers: Record<string, string>, timeout: number): Promise<Response> => {
  const u = new URL(url)
  const lib = await nodeModule(u.protocol === 'https:' ? 'https' : 'http')
  const data = enc(body)
  return new Promise((resolve, reject) => {
    let done = false
    const fin = (e?: string, r?: Response): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      e ? reject(new Error(e)) : resolve(r as Response)
    }
    const req = lib.request(u, { method: 'POST', headers: { 'User-Agent': 'astrid-js/' + SDK_VERSION, ...headers, 'Content-Length': String(data.length) } }, (res: any) => {
      const chunks: Uint8Array[] = []
      let n = 0
      res.on('data', (c: Uint8Array) => {
        if (n < 65536) chunks.push(c)
        n += c.length
      })
      res.on('end', () => fin(undefined, { status: res.statusCode, header: (h: string) => res.headers[h.toLowerCase()], text: Buffer.concat(chunks).toString('utf8') }))
      res.on('error', () => fin('connection_error'))
    })
    const timer = setTimeout(() => {
      fin('timeout')
      req.destroy()
    }, timeout * 1000)
    unref(timer)
    // background sends never keep the process alive; flush() and shutdown() hold it while they wait
    req.on('socket', (s: any) => s.unref && s.unref())
    req.on('error', () => fin('connection_error'))
    req.end(data)
  })
}

declare const Buffer: any
export const unref = (t: any): any => {
  if (t && t.unref) t.unref()
  return t
}
