/** `scroll.depth` with `scroll.percent` 25, 50, 75 and 100, each once per page view. */
import type { Ctx } from './context'
import { doc, g, on, safe } from './env'

export const scrollDepth = (ctx: Ctx): void => {
  /** the milestones reached in this page view */
  let done = 0
  let timer: any = 0
  const check = safe(() => {
    timer = 0
    const h = Math.max(doc.documentElement.scrollHeight, doc.body ? doc.body.scrollHeight : 0)
    const seen = g.scrollY + g.innerHeight
    // the last two pixels count as the bottom (fractional zoom never quite reaches it)
    const pct = seen >= h - 2 ? 100 : (seen / h) * 100
    for (let p = 25; p <= pct && p <= 100; p += 25) if (p > done) ctx.track_('scroll.depth', { 'scroll.percent': (done = p) })
  })
  on(g, 'scroll', () => (timer = timer || setTimeout(check, 100)), { passive: true })
  ctx.views_.push(() => (done = 0))
}
