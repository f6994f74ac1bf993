/** What the autocapture features share: the client to record through and page life-cycle hooks. */
import { stopwatch } from './engagement'
import { doc, on, safe, win } from './env'

export interface Ctx {
  /** record one event (never throws) */
  track(name: string, attributes: Record<string, unknown>): void
  /** the page's path now */
  path(): string
  /** a new stopwatch of engaged time */
  watch: typeof stopwatch
  /** called after each new page view (SPA navigation) */
  views: (() => void)[]
  /** called when the page is hidden (tab switch, minimise, navigation) */
  hide: (() => void)[]
  /** called when the page is left (pagehide) */
  leave: (() => void)[]
  /** called when the page is shown again (visible again, or back from the back/forward cache) */
  show: (() => void)[]
}

const run = (fns: (() => void)[]): void => {
  for (const f of fns) safe(f)()
}

export const context = (track: Ctx['track']): Ctx => {
  const c: Ctx = { track, path: () => win.location.pathname, watch: stopwatch, views: [], hide: [], leave: [], show: [] }
  on(doc, 'visibilitychange', () => run(doc.visibilityState === 'hidden' ? c.hide : c.show))
  on(win, 'pagehide', () => {
    run(c.leave)
    // a download link fires pagehide and the page stays: carry on as shown
    setTimeout(() => doc.visibilityState === 'visible' && run(c.show), 500)
  })
  on(win, 'pageshow', (e: any) => e.persisted && run(c.show))
  return c
}

/** Fire the page-view listeners (the pageViews feature calls this on navigation). */
export const viewed = (c: Ctx): void => run(c.views)
