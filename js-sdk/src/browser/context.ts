/** What the autocapture features share: the client to record through and page life-cycle hooks. */
import { doc, on, safe, visible, win } from './env'

export interface Ctx {
  /** record one event (never throws), with `url.path` of the page now unless `attributes` has one */
  track(name: string, attributes?: Record<string, unknown>): void
  /** the page's path now */
  path(): string
  /** called after each new page view (SPA navigation) */
  views: (() => void)[]
  /** called when the page is hidden (tab switch, minimise, navigation) */
  hide: (() => void)[]
  /** called when the page is left (pagehide) */
  leave: (() => void)[]
  /** called when the page is shown again (visible again, or back from the back/forward cache) */
  show: (() => void)[]
}

/** Call each hook; one that throws does not stop the others. */
export const run = (fns: (() => void)[]): void => fns.forEach((f) => safe(f)())

export const context = (trackEvent: (name: string, attributes: Record<string, unknown>) => void): Ctx => {
  const path = (): string => win.location.pathname
  const c: Ctx = { track: (n, a) => trackEvent(n, { 'url.path': path(), ...a }), path, views: [], hide: [], leave: [], show: [] }
  const shown = (): false | void => visible() && run(c.show)
  on(doc, 'visibilitychange', () => run(visible() ? c.show : c.hide))
  on(win, 'pagehide', () => {
    run(c.leave)
    // a download link fires pagehide and the page stays: carry on as shown
    setTimeout(shown, 500)
  })
  on(win, 'pageshow', (e: any) => e.persisted && run(c.show))
  return c
}
