/** `page.view` on load and on SPA navigation (pushState, replaceState, popstate, optionally hashchange). */
import { run, type Ctx } from './context'
import { doc, g, on, safe } from './env'
import { cleanUrl, referrer } from './url'

export interface PageViewOptions {
  /** also count `#/route` changes as page views (hash routers) */
  hashChanges?: boolean
}

export const pageViews = (ctx: Ctx, o: PageViewOptions = {}): void => {
  const loc = g.location
  const h = g.history
  let last = ''
  let prev = doc.referrer
  const view = safe(() => {
    const key = loc.pathname + loc.search + (o.hashChanges ? loc.hash : '')
    const u = key !== last && cleanUrl(loc.href)
    if (!u) return
    // the features' page-view hooks (a new page view: scroll milestones start again, time is reported)
    if (last) run(ctx.views_)
    last = key
    ctx.track_('page.view', { 'url.full': u.full, 'page.title': String(doc.title || ''), ...referrer(prev, loc.hostname), ...u.utm })
    prev = loc.href
  })
  // after the app's own handlers: routers usually set the title right after navigating
  const soon = (): void => void setTimeout(view, 0)
  for (const m of ['pushState', 'replaceState']) {
    const orig = h[m]
    if (typeof orig === 'function')
      h[m] = function (this: any) {
        soon()
        return orig.apply(this, arguments)
      }
  }
  on(g, 'popstate', soon)
  if (o.hashChanges) on(g, 'hashchange', view)
  view()
}
