/** Engaged time: counted only while the page is visible and has focus. `page.engagement` reports it. */
import { doc, on, win } from './env'
import type { Ctx } from './context'

/** A stopwatch that runs only while the page is visible and focused. */
export const stopwatch = () => {
  let total = 0
  let since = 0
  const active = (): boolean => doc.visibilityState === 'visible' && doc.hasFocus()
  const tick = (): void => {
    const t = Date.now()
    if (since) total += t - since
    since = active() ? t : 0
  }
  tick()
  for (const t of ['focus', 'blur', 'pageshow', 'pagehide']) on(win, t, tick)
  on(doc, 'visibilitychange', tick)
  return {
    /** engaged milliseconds so far (and restart the count when `reset`) */
    take(reset?: boolean): number {
      tick()
      const n = total
      if (reset) total = 0
      return n
    },
  }
}

/** `page.engagement` with `engagement.time_ms` each time the page is hidden or the SPA moves on. */
export const engagement = (ctx: Ctx): void => {
  const w = ctx.watch()
  let path = ctx.path()
  const report = (): void => {
    const ms = w.take(true)
    if (ms > 0) ctx.track('page.engagement', { 'url.path': path, 'engagement.time_ms': ms })
    path = ctx.path()
  }
  ctx.hide.push(report)
  ctx.views.push(report)
}
