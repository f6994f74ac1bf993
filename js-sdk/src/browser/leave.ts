/** `page.leave` with the engaged time of the page view, when the page is left (or the SPA moves on). */
import type { Ctx } from './context'

export const pageLeave = (ctx: Ctx): void => {
  const w = ctx.watch()
  let total = 0
  let path = ctx.path()
  let left = false
  const leave = (final: boolean): void => {
    total += w.take(true)
    if (!left) ctx.track('page.leave', { 'url.path': path, 'engagement.time_ms': total })
    left = final
    total = 0
    path = ctx.path()
  }
  ctx.leave.push(() => leave(true))
  ctx.views.push(() => leave(false))
  ctx.show.push(() => (left = false))
}
