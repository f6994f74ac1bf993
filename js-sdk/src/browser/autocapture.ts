/** Astrid.autocapture({...}): sessions, device context, unload-safe delivery and the opted-in features. */
import { getClient, type TelemetryClient } from '../index'
import { hex } from '../records'
import { elementClicks, fileDownloads, outboundLinks, type DownloadOptions } from './clicks'
import { context, type Ctx } from './context'
import { delivery, type DeliveryOptions } from './delivery'
import { deviceContext } from './device'
import { engagement } from './engagement'
import { doc, local, safe } from './env'
import { forms } from './forms'
import { pageLeave } from './leave'
import { pageViews, type PageViewOptions } from './pageviews'
import { scrollDepth } from './scroll'
import { sessions, windowId, type SessionOptions } from './session'

export interface AutocaptureOptions extends SessionOptions, DeliveryOptions {
  pageViews?: boolean | PageViewOptions
  clicks?: boolean
  outboundLinks?: boolean
  fileDownloads?: boolean | DownloadOptions
  forms?: boolean
  scrollDepth?: boolean
  engagement?: boolean
  pageLeave?: boolean
  /** add device.footprint (a keyed hash of the device context): fingerprinting, needs explicit consent */
  deviceFootprint?: boolean
  /** add session.id, window.id, visitor.id to every record (default true) */
  sessions?: boolean
  /** add the coarse device context to every record (default true) */
  device?: boolean
}

/** Every feature, for `data-autocapture="all"`. */
export const FEATURES = ['pageViews', 'clicks', 'outboundLinks', 'fileDownloads', 'forms', 'scrollDepth', 'engagement', 'pageLeave'] as const

/**
 * The browser base without any feature: sessions, device context and delivery that survives the
 * page, then `features` (e.g. `[pageViews, scrollDepth]` for the smallest bundle). Returns the
 * delivery counters (`stats()`), or undefined when nothing was installed (no client, no browser,
 * Do Not Track, Global Privacy Control, or enabled: false).
 */
export const browser = (options: AutocaptureOptions = {}, client: TelemetryClient | undefined = getClient(), features: ((ctx: Ctx) => void)[] = []) => {
  const c: any = client
  const rule = (re: RegExp): boolean => !!c.decision && re.test(c.decision.enabled + c.decision.rule)
  // the browser's privacy signals, or the app said no: nothing may run
  // (once per client)
  if (!c || !doc || c.autocaptured_ || rule(/^false(do_not_track|global_privacy_control|argument)$/)) return
  c.autocaptured_ = 1
  const o = options || {}
  const cfg = c.config
  const mem = o.persistence === 'memory'
  // made on the first record that leaves: nothing is stored on the device before consent
  let stamp: ReturnType<typeof sessions> | undefined
  const dev = o.device === false ? {} : deviceContext()
  let footprint: string | undefined
  /** run `fn` with the result after each call of the client's method `m` */
  const after = (m: string, fn: (r: any) => void): void => {
    const f = c[m]
    c[m] = function (this: any) {
      const r = f.call(this)
      fn(r)
      return r
    }
  }
  // fingerprinting: only under explicit consent (never under DNT, GPC or pending consent)
  const explicit = (): boolean => rule(/^true(argument|stored_consent)$/)
  /** the footprint's hash while it is computed: records wait for it (those optIn releases too) */
  let pending: Promise<void> | undefined
  const want = (): void => {
    if (!o.deviceFootprint || footprint || pending || !explicit() || !c.priv) return
    const coarse = deviceContext()
    pending = c.priv
      .hashValue(JSON.stringify(Object.keys(coarse).sort().map((k) => [k, coarse[k]])))
      .then((h: string) => (footprint = h))
      .catch(() => {})
      .then(() => (pending = undefined))
  }
  want()
  const ctx = context((name, a) => c.trackEvent(name, a))
  for (const f of features) safe(f)(ctx)
  // after the features: their page-hide events are queued before the queue leaves with the page
  const del = delivery(c, hex(8), { outbox: o.outbox === undefined ? !mem : o.outbox, beacon: o.beacon }, ctx)
  // Stamped on the worker after the privacy engine (these are ours, not the page's): session,
  // device context, footprint. Then the application's beforeSend.
  const user = cfg.beforeSend
  const fin = (r: any): any => {
    try {
      if (footprint && explicit()) r.attributes['device.footprint'] = footprint
    } catch {}
    return user ? user(r) : r
  }
  cfg.beforeSend = (r: any) => {
    try {
      del.ensure_()
      const a = r.attributes
      // the clock of this moment, shared by every tab (records wait here at most a flush interval)
      if (o.sessions !== false) (stamp = stamp || sessions(cfg.projectName, o, windowId(mem)))(a, Date.now())
      for (const k in dev) if (!(k in a)) a[k] = dev[k]
    } catch {}
    return pending ? pending.then(() => fin(r)) : fin(r)
  }
  // "memory": the choice applies to this page only and is not remembered on the device
  const forget = (): unknown => mem && local('astrid.consent.' + cfg.projectName, null)
  after('optIn', () => {
    want()
    forget()
  })
  after('optOut', () => {
    footprint = undefined
    del.clear_()
    forget()
  })
  // stats(): the page-hide delivery counters beside the pipeline's (keepalive batches, splits,
  // beacons, records deferred to the outbox, persisted, resent, dropped from the full outbox)
  after('stats', (r) => (r.browser = del.stats_()))
  return { stats: del.stats_ }
}

/** Astrid.autocapture({pageViews: true, clicks: true, ...}): the base and every feature asked for. */
export const autocapture = (options: AutocaptureOptions = {}, client: TelemetryClient | undefined = getClient()) => {
  const o: any = options || {}
  // in the order of FEATURES; an object option (pageViews: {hashChanges}, fileDownloads: {extensions}) is the feature's options
  const fns: ((ctx: Ctx, o: any) => void)[] = [pageViews, elementClicks, outboundLinks, fileDownloads, forms, scrollDepth, engagement, pageLeave]
  return browser(o, client, [(ctx) => FEATURES.forEach((k, i) => o[k] && fns[i](ctx, typeof o[k] === 'object' ? o[k] : {}))])
}
