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

export const outbox = (project: string, me: string, maxRecords = 1000, maxChars = 1e6) => {
  const key = 'astrid.outbox.' + project
  const stats = { persisted: 0, resent: 0, dropped: 0 }
  const write = (list: Entry[]): void => {
    let n = 0
    for (const e of list) n += e.r.length
    // over the cap: the oldest entries go first (counted)
    while (list.length && (n > maxRecords || JSON.stringify(list).length > maxChars)) {
      const e = list.shift()!
      n -= e.r.length
      stats.dropped += e.r.length
    }
    if (!list.length) local(key, null)
    else if (!local(key, list)) stats.dropped += n
  }
  /**
   * Run `fn` on the kept entries while holding the cross-tab lock (`now` skips the lock: page hide
   * cannot wait); the entries are written back when it returns true.
   */
  const update = (fn: (list: Entry[]) => unknown, now?: boolean): Promise<void> => {
    const locks = g.navigator.locks
    const go = (): void => {
      const v = local(key)
      const list: Entry[] = Array.isArray(v) ? v : []
      if (fn(list)) write(list)
    }
    return now || !locks ? Promise.resolve(go()) : locks.request(key, async () => go()).catch(() => {})
  }
  /** give this page's entries holding any of `ids` (all its entries without `ids`) to whoever drains next */
  const give = (list: Entry[], ids?: Set<string>): boolean => {
    let given = false
    for (const e of list)
      if (e.o === me && (!ids || e.r.some((x) => ids.has(x.id)))) {
        e.o = ''
        given = true
      }
    return given
  }
  return {
    stats_: stats,
    /** keep these records (those not kept already) for `lane`; owner '' means the page is going */
    save_: (records: any[], res: Record<string, unknown>, lane: string, owner: string, now?: boolean): Promise<void> =>
      update((list) => {
        const have = new Set<string>()
        for (const e of list) for (const x of e.r) have.add(x.id)
        // these records left this page's lanes: whoever drains next may send them
        const given = !owner && give(list, new Set(records.map((x) => x && x.id)))
        const r = records.filter((x) => x && x.id && !have.has(x.id))
        if (r.length) {
          stats.persisted += r.length
          list.push({ b: lane, r, s: res, o: owner, t: Date.now() })
        }
        return r.length || given
      }, now),
    /** delivered: forget these record ids */
    remove_: (done: Set<string>): Promise<void> =>
      // the usual case: nothing waits, no lock needed
      local(key) == null
        ? Promise.resolve()
        : update((list) => {
            let changed = false
            for (const e of list) {
              const n = e.r.length
              e.r = e.r.filter((x) => !done.has(x.id))
              changed = changed || e.r.length !== n
            }
            if (changed) write(list.filter((e) => e.r.length))
          }),
    /** this page is going away: its entries are anybody's now */
    release_: (): unknown => update(give, true),
    /** take every entry nobody owns (or whose owner went quiet for 5 minutes) and give each to `send` */
    claim_: (send: (e: Entry) => void): Promise<void> =>
      update((list) => {
        const t = Date.now()
        const mine = list.filter((e) => !(e.o === me || (e.o && t - e.t < 3e5)))
        if (!mine.length) return
        for (const e of mine) (e.o = me), (e.t = t)
        write(list)
        for (const e of mine) {
          stats.resent += e.r.length
          send(e)
        }
      }),
    /** consent withdrawn: nothing kept may ever be sent */
    clear_: (): void => local(key, null),
  }
}
