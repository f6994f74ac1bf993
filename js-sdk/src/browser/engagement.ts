/** Engaged time: counted only while the page is visible and has focus. `page.engagement` reports it. */
import type { Ctx } from './context'
import { doc, g, on, visible } from './env'

/**
 * A stopwatch that runs only while the page is visible and focused; each call returns the engaged
 * milliseconds since the previous call.
 */
export const stopwatch = (): (() => number) => {
  let total = 0
  let since = 0
  const tick = (): void => {
    const t = Date.now()
    if (since) total += t - since
    since = visible() && doc.hasFocus() ? t : 0
  }
  tick()
  for (const t of ['focus', 'blur', 'pageshow', 'pagehide']) on(g, t, tick)
  on(doc, 'visibilitychange', tick)
  return () => {
    tick()
    const n = total
    total = 0
    return n
  }
}

/**
 * The time reports of `page.engagement` and `page.leave`: `fn(path, ms, final)` with the path the
 * time was spent on and the engaged milliseconds since the last report; `path` moves on after each.
 */
export const timed =
  (ctx: Ctx, fn: (path: string, ms: number, final?: boolean) => void) => {
    const take = stopwatch()
    let path = ctx.path_()
    return (final?: boolean): void => {
      fn(path, take(), final)
      path = ctx.path_()
    }
  }

/** `page.engagement` with `engagement.time_ms` each time the page is hidden or the SPA moves on. */
export const engagement = (ctx: Ctx): void => {
  const report = timed(ctx, (path, ms) => ms > 0 && ctx.track_('page.engagement', { 'url.path': path, 'engagement.time_ms': ms }))
  ctx.hide_.push(report)
  ctx.views_.push(report)
}
