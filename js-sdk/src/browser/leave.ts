/**
 * `page.leave` with the engaged time since the page view began (or since the last leave): when the
 * page is hidden or left, once until it is shown again, and when the SPA moves to another page.
 */
import type { Ctx } from './context'

export const pageLeave = (ctx: Ctx): void => {
  const w = ctx.watch()
  let path = ctx.path()
  let left = false
  const leave = (final: boolean): void => {
    const ms = w.take(true)
    if (!left) ctx.track('page.leave', { 'url.path': path, 'engagement.time_ms': ms })
    left = final
    path = ctx.path()
  }
  ctx.hide.push(() => leave(true))
  ctx.leave.push(() => leave(true))
  ctx.views.push(() => leave(false))
  ctx.show.push(() => (left = false))
}
