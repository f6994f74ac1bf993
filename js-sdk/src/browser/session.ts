/**
 * Sessions and identity: `session.id` (ended by inactivity, shared across tabs through localStorage
 * and storage events), a per-tab `window.id` and an anonymous random `visitor.id`. No cookies, ever.
 */
import { hex } from '../records'
import { g, local, on, tab } from './env'

export interface SessionOptions {
  /** "localStorage" (default) or "memory": nothing is kept on the device */
  persistence?: 'localStorage' | 'memory'
  /** minutes of inactivity that end a session (default 30) */
  sessionTimeout?: number
}

/** A session: its id and the time of its last record (ms). */
type State = { id: string; last: number } | null

/** The value kept under `key` in `store` (nothing with persistence "memory"), or a new random one of `n` bytes, kept. */
const kept = (mem: boolean, store: typeof local, key: string, n: number): string => {
  let v = mem ? 0 : store(key)
  if (!v && !mem) store(key, (v = hex(n)))
  return v || hex(n)
}

/** This tab's id: kept in sessionStorage (the same tab after a reload), random per page with persistence "memory". */
export const windowId = (mem: boolean): string => kept(mem, tab, 'astrid.window', 8)

/** Returns the function that stamps a record's attributes as of time `t` (called for every record, in order). */
export const sessions = (project: string, o: SessionOptions, window: string): ((a: Record<string, unknown>, t: number) => void) => {
  const mem = o.persistence === 'memory'
  const key = 'astrid.session.' + project
  const idle = (o.sessionTimeout || 30) * 60000
  const visitor = kept(mem, local, 'astrid.visitor.' + project, 16)
  /** the session as this tab knows it; another tab's news comes as a storage event */
  const read = (): State => (mem ? null : local(key))
  let s = read()
  let saved = 0
  if (!mem) on(g, 'storage', (e: any) => e.key === key && (s = read()))
  return (a, t) => {
    if (!s || !(t - s.last <= idle)) {
      // another tab may have moved on already: take its session when it is still alive
      const o2 = read()
      s = o2 && t - o2.last <= idle ? o2 : { id: hex(16), last: t }
      saved = 0
    }
    s.last = t
    // writes at most once a second: other tabs only need to know the session is alive
    if (!mem && t - saved > 1000) {
      saved = t
      local(key, s)
    }
    a['session.id'] = s.id
    a['window.id'] = window
    a['visitor.id'] = visitor
  }
}
