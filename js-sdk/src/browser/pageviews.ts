/** `page.view` on load and on SPA navigation (pushState, replaceState, popstate, optionally hashchange). */
import type { Ctx } from './context'
import { viewed } from './context'
import { doc, on, safe, win } from './env'
import { cleanUrl, referrer } from './url'

export interface PageViewOptions {
  /** also count `#/route` changes as page views (hash routers) */
  hashChanges?: boolean
}

export const pageViews = (ctx: Ctx, o: PageViewOptions = {}): void => {
  const loc = win.location
  let last = ''
  let prev = doc.referrer
  const view = safe(() => {
    const key = loc.pathname + loc.search + (o.hashChanges ? loc.hash : '')
    if (key === last) return
    const first = !last
    last = key
    const u = cleanUrl(loc.href)
    if (!u) return
    if (!first) viewed(ctx)
    ctx.track('page.view', {
      'url.path': u.path,
      'url.full': u.full,
      'page.title': String(doc.title || ''),
      ...referrer(prev, loc.hostname),
      ...u.utm,
    })
    prev = loc.href
  })
  const h = win.history
  for (const m of ['pushState', 'replaceState']) {
    const orig = h[m]
    if (typeof orig !== 'function') continue
    h[m] = function (this: any, ...a: any[]) {
      const r = orig.apply(this, a)
      // after the app's own handlers: routers usually set the title right after navigating
      setTimeout(view, 0)
      return r
    }
  }
  on(win, 'popstate', () => setTimeout(view, 0))
  if (o.hashChanges) on(win, 'hashchange', view)
  view()
}
