/**
 * `page.leave` with the engaged time since the page view began (or since the last leave): when the
 * page is hidden or left, once until it is shown again, and when the SPA moves to another page.
 */
import type { Ctx } from './context'
import { timed } from './engagement'

export const pageLeave = (ctx: Ctx): void => {
  let left: boolean | undefined
  const leave = timed(ctx, (path, ms, final) => {
    if (!left) ctx.track('page.leave', { 'url.path': path, 'engagement.time_ms': ms })
    left = final
  })
  const gone = (): void => leave(true)
  ctx.hide.push(gone)
  ctx.leave.push(gone)
  ctx.views.push(leave)
  ctx.show.push(() => (left = false))
}
