/**
 * The outbox: batches that could not be delivered, kept in localStorage (capped) and sent again
 * after a reload or when the browser is back online, once by record id. One writer at a time
 * across tabs (Web Locks where the browser has them).
 */
import { g, local } from './env'

export interface Entry {
  /** lane (backend) name */
  b: string
  /** sanitized records, ready to export */
  r: any[]
  /** resource attributes */
  s: Record<string, unknown>
  /** owning tab's window id; '' once that page is gone */
  o: string
  /** last touched (ms) */
  t: number
}

/** An entry whose owner has not touched it for this long is taken over by another tab. */
const STALE = 5 * 60000

export const outbox = (project: string, me: string, maxRecords = 1000, maxChars = 1e6) => {
  const key = 'astrid.outbox.' + project
  const stats = { persisted: 0, resent: 0, dropped: 0 }
  const read = (): Entry[] => {
    const v = local.get(key)
    return Array.isArray(v) ? v : []
  }
  const write = (list: Entry[]): void => {
    let n = 0
    for (const e of list) n += e.r.length
    // over the cap: the oldest entries go first (counted)
    while (list.length && (n > maxRecords || JSON.stringify(list).length > maxChars)) {
      const e = list.shift()!
      n -= e.r.length
      stats.dropped += e.r.length
    }
    if (!list.length) local.del(key)
    else if (!local.set(key, list)) stats.dropped += n
  }
  /** run `fn` while holding the cross-tab lock (sync `now` skips the lock: page hide cannot wait) */
  const locked = (fn: () => void, now?: boolean): Promise<void> => {
    const locks = g.navigator && g.navigator.locks
    if (now || !locks) return Promise.resolve(fn())
    return locks.request(key, async () => fn()).catch(() => {})
  }
  return {
    stats,
    /** keep these records (those not kept already) for `lane`; owner '' means the page is going */
    save(records: any[], res: Record<string, unknown>, lane: string, owner: string, now?: boolean): Promise<void> {
      return locked(() => {
        const list = read()
        const have = new Set<string>()
        const mine = new Set(records.map((x) => x && x.id))
        let given = false
        for (const e of list) {
          for (const x of e.r) have.add(x.id)
          // these records left this page's lanes: whoever drains next may send them
          if (!owner && e.o === me && e.r.some((x) => mine.has(x.id))) (e.o = ''), (given = true)
        }
        const r = records.filter((x) => x && x.id && !have.has(x.id))
        if (r.length) {
          stats.persisted += r.length
          list.push({ b: lane, r, s: res, o: owner, t: Date.now() })
        }
        if (r.length || given) write(list)
      }, now)
    },
    /** delivered: forget these record ids */
    remove(done: Set<string>): Promise<void> {
      // the usual case: nothing waits, no lock needed
      if (local.get(key) == null) return Promise.resolve()
      return locked(() => {
        const list = read()
        let changed = false
        for (const e of list) {
          const n = e.r.length
          e.r = e.r.filter((x) => !done.has(x.id))
          changed = changed || e.r.length !== n
        }
        if (changed) write(list.filter((e) => e.r.length))
      })
    },
    /** this page is going away: its entries are anybody's now */
    release(): void {
      const list = read()
      if (list.some((e) => e.o === me)) {
        for (const e of list) if (e.o === me) e.o = ''
        write(list)
      }
    },
    /** take every entry nobody owns (or whose owner went quiet) and give each to `send` */
    claim(send: (e: Entry) => void): Promise<void> {
      return locked(() => {
        const list = read()
        const t = Date.now()
        const mine: Entry[] = []
        for (const e of list) {
          if (e.o === me || (e.o && t - e.t < STALE)) continue
          e.o = me
          e.t = t
          mine.push(e)
        }
        if (!mine.length) return
        write(list)
        for (const e of mine) {
          stats.resent += e.r.length
          send(e)
        }
      })
    },
    /** consent withdrawn: nothing kept may ever be sent */
    clear(): void {
      local.del(key)
    },
  }
}
