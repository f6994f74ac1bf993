/** What the autocapture features share: the client to record through and page life-cycle hooks. */
import { doc, g, on, safe, visible } from './env'

/**
 * What `browser()` hands each feature. Internal: its members end in `_` and the builds rename them,
 * so a feature is one of the SDK's (pageViews, elementClicks, ...), never code of the app's own.
 * @internal
 */
export interface Ctx {
  /** record one event (never throws), with `url.path` of the page now unless `attributes` has one */
  track_(name: string, attributes?: Record<string, unknown>): void
  /** the page's path now */
  path_(): string
  /** called after each new page view (SPA navigation) */
  views_: (() => void)[]
  /** called when the page is hidden (tab switch, minimise, navigation) */
  hide_: (() => void)[]
  /** called when the page is left (pagehide) */
  leave_: (() => void)[]
  /** called when the page is shown again (visible again, or back from the back/forward cache) */
  show_: (() => void)[]
}

/** Call each hook; one that throws does not stop the others. */
export const run = (fns: (() => void)[]): void => fns.forEach((f) => safe(f)())

export const context = (trackEvent: (name: string, attributes: Record<string, unknown>) => void): Ctx => {
  const path = (): string => g.location.pathname
  const c: Ctx = { track_: (n, a) => trackEvent(n, { 'url.path': path(), ...a }), path_: path, views_: [], hide_: [], leave_: [], show_: [] }
  const shown = (): false | void => visible() && run(c.show_)
  on(doc, 'visibilitychange', () => run(visible() ? c.show_ : c.hide_))
  on(g, 'pagehide', () => {
    run(c.leave_)
    // a download link fires pagehide and the page stays: carry on as shown
    setTimeout(shown, 500)
  })
  on(g, 'pageshow', (e: any) => e.persisted && run(c.show_))
  return c
}
