/**
 * Sessions and identity: `session.id` (ended by inactivity, shared across tabs through localStorage
 * and storage events), a per-tab `window.id` and an anonymous random `visitor.id`. No cookies, ever.
 */
import { hex } from '../records'
import { local, on, tab, win } from './env'

export interface SessionOptions {
  /** "localStorage" (default) or "memory": nothing is kept on the device */
  persistence?: 'localStorage' | 'memory'
  /** minutes of inactivity that end a session (default 30) */
  sessionTimeout?: number
}

interface State {
  id: string
  last: number
}

/** This tab's id: kept in sessionStorage (the same tab after a reload), random per page with persistence "memory". */
export const windowId = (mem: boolean): string => {
  let w = mem ? 0 : tab.get('astrid.window')
  if (!w) {
    w = hex(8)
    if (!mem) tab.set('astrid.window', w)
  }
  return w
}

/** Returns the function that stamps a record's attributes as of time `t` (called for every record, in order). */
export const sessions = (project: string, o: SessionOptions, window: string): ((a: Record<string, unknown>, t: number) => void) => {
  const mem = o.persistence === 'memory'
  const key = 'astrid.session.' + project
  const idle = (o.sessionTimeout || 30) * 60000
  const vk = 'astrid.visitor.' + project
  let visitor: string = mem ? '' : local.get(vk)
  if (!visitor) {
    visitor = hex(16)
    if (!mem) local.set(vk, visitor)
  }
  let s: State | null = mem ? null : local.get(key)
  let saved = -Infinity
  if (!mem) on(win, 'storage', (e: any) => {
    if (e.key === key) {
      try {
        s = JSON.parse(e.newValue)
      } catch {}
    }
  })
  return (a, t) => {
    if (!s || !(t - s.last <= idle)) {
      // another tab may have moved on already: take its session when it is still alive
      const o2: State | null = mem ? null : local.get(key)
      s = o2 && t - o2.last <= idle ? o2 : { id: hex(16), last: t }
      saved = -Infinity
    }
    s.last = t
    // writes at most once a second: other tabs only need to know the session is alive
    if (!mem && t - saved > 1000) {
      saved = t
      local.set(key, s)
    }
    a['session.id'] = s.id
    a['window.id'] = window
    a['visitor.id'] = visitor
  }
}
