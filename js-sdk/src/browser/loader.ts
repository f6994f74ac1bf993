/** `<script src="astrid.min.js" data-project-name="shop" data-autocapture="pageViews,clicks">`: set up from data-* attributes. */
import { DEFAULTS } from '../config'
import { init } from '../index'
import { autocapture, FEATURES } from './autocapture'
import { doc } from './env'

/** data-* attributes that configure autocapture rather than the client: a string, a number, then booleans. */
const AUTO = 'persistence sessionTimeout downloadExtensions deviceFootprint beacon outbox sessions device hashChanges'.split(' ')

/** Run when the bundle is loaded by a script tag carrying data-project-name; never throws. */
export const fromScript = (): void => {
  const s = doc && doc.currentScript
  const data = s && s.dataset
  if (!data || !data.projectName) return
  try {
    const opts: Record<string, unknown> = {}
    const auto: Record<string, any> = {}
    const list = (v: unknown): string[] => String(v || '').split(/[\s,]+/).filter(Boolean)
    for (const k in data) {
      // an attribute's text as the option's type: numbers, booleans, JSON objects and lists, or the string
      const v: string = data[k]
      const d = typeof (DEFAULTS as any)[k]
      const i = AUTO.indexOf(k)
      let x: unknown = v
      if (d === 'number' || i === 1) x = +v
      else if (d === 'boolean' || i > 2 || k === 'enabled') x = !/^(false|0|no|off)$/i.test(v)
      else if (/^[{[]/.test(v)) {
        try {
          x = JSON.parse(v)
        } catch {}
      }
      ;(i < 0 ? opts : auto)[k] = x
    }
    const features = list(opts.autocapture)
    delete opts.autocapture
    for (const f of features.indexOf('all') >= 0 || features.indexOf('true') >= 0 ? FEATURES : features) auto[f] = true
    if (auto.hashChanges) auto.pageViews = auto.pageViews && { hashChanges: true }
    if (auto.downloadExtensions) auto.fileDownloads = auto.fileDownloads && { extensions: list(auto.downloadExtensions) }
    autocapture(auto, init(opts as any))
  } catch (e: any) {
    // a mistake in the tag must not break the page; say what it was
    try {
      console.warn('astrid: ' + (e && e.message))
    } catch {}
  }
}
