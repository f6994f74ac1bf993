/** `<script src="astrid.min.js" data-project-name="shop" data-autocapture="pageViews,clicks">`: set up from data-* attributes. */
import { DEFAULTS } from '../config'
import { init } from '../index'
import { autocapture, FEATURES, type AutocaptureOptions } from './autocapture'
import { doc } from './env'

/** data-* attributes that configure autocapture rather than the client. */
const AUTO: Record<string, 1> = { persistence: 1, sessionTimeout: 1, deviceFootprint: 1, beacon: 1, outbox: 1, sessions: 1, device: 1, hashChanges: 1, downloadExtensions: 1 }

/** An attribute's text as the option's type: numbers, booleans, JSON objects, or the string. */
const value = (k: string, v: string): unknown => {
  const d = (DEFAULTS as any)[k]
  if (typeof d === 'number' || k === 'sessionTimeout') return +v
  if (typeof d === 'boolean' || /^(enabled|deviceFootprint|beacon|outbox|sessions|device|hashChanges)$/.test(k)) return !/^(false|0|no|off)$/i.test(v)
  if (/^[{[]/.test(v)) {
    try {
      return JSON.parse(v)
    } catch {}
  }
  return v
}

/** Run when the bundle is loaded by a script tag carrying data-project-name; never throws. */
export const fromScript = (): void => {
  const s = doc && doc.currentScript
  const data = s && s.dataset
  if (!data || !data.projectName) return
  try {
    const opts: Record<string, unknown> = {}
    const auto: AutocaptureOptions & Record<string, unknown> = {}
    for (const k in data) {
      if (k === 'autocapture') continue
      const v = value(k, data[k])
      if (AUTO[k]) auto[k] = v
      else opts[k] = v
    }
    const list = String(data.autocapture || '')
      .split(/[\s,]+/)
      .filter(Boolean)
    for (const f of list.indexOf('all') >= 0 || list.indexOf('true') >= 0 ? FEATURES : list) (auto as any)[f] = true
    if (auto.hashChanges) auto.pageViews = auto.pageViews && { hashChanges: true }
    if (auto.downloadExtensions) auto.fileDownloads = auto.fileDownloads && { extensions: String(auto.downloadExtensions).split(/[\s,]+/) }
    const client = init(opts as any)
    autocapture(auto, client)
  } catch (e: any) {
    // a mistake in the tag must not break the page; say what it was
    try {
      console.warn('astrid: ' + (e && e.message))
    } catch {}
  }
}
