/**
 * `page.leave` with the engaged time since the page view began (or since the last leave): when the
 * page is hidden or left, once until it is shown again, and when the SPA moves to another page.
 */
import type { Ctx } from './context'
import { timed } from './engagement'

export const pageLeave = (ctx: Ctx): void => {
  let left: boolean | undefined
  const leave = timed(ctx, (path, ms, final) => {
    if (!left) ctx.track_('page.leave', { 'url.path': path, 'engagement.time_ms': ms })
    left = final
  })
  const gone = (): void => leave(true)
  ctx.hide_.push(gone)
  ctx.leave_.push(gone)
  ctx.views_.push(leave)
  ctx.show_.push(() => (left = false))
}
