/** Coarse device context from standard APIs (browser and OS family with major version, type, screen, language, time zone). */
import { g } from './env'

const BROWSERS: [RegExp, string][] = [
  [/Edg(?:e|A|iOS)?\/(\d+)/, 'Edge'],
  [/(?:OPR|Opera)\/(\d+)/, 'Opera'],
  [/SamsungBrowser\/(\d+)/, 'Samsung Internet'],
  [/(?:Firefox|FxiOS)\/(\d+)/, 'Firefox'],
  [/(?:Chrome|CriOS)\/(\d+)/, 'Chrome'],
  [/Version\/(\d+).*Safari/, 'Safari'],
]
const SYSTEMS: [RegExp, string][] = [
  [/Windows NT (\d+)/, 'Windows'],
  [/(?:iPhone|iPad|iPod).*? OS (\d+)/, 'iOS'],
  [/Mac OS X (\d+)/, 'macOS'],
  [/Android (\d+)/, 'Android'],
  [/CrOS/, 'ChromeOS'],
  [/Linux/, 'Linux'],
]

const match = (ua: string, table: [RegExp, string][]): [string, string] | undefined => {
  for (const [re, name] of table) {
    const m = re.exec(ua)
    if (m) return [name, m[1] || '']
  }
}

/**
 * The context every record carries. The user-agent string is read here, reduced to families and
 * major versions, and never sent.
 */
export const deviceContext = (): Record<string, string | number> => {
  const n = g.navigator || {}
  const ua: string = n.userAgent || ''
  const s = g.screen || {}
  const out: Record<string, string | number> = {}
  const b = match(ua, BROWSERS)
  const o = match(ua, SYSTEMS)
  if (b) {
    out['browser.name'] = b[0]
    out['browser.version'] = b[1]
  }
  if (o) {
    out['os.name'] = o[0]
    // Windows NT 10 is Windows 10 and 11 alike; a major version is all we keep anyway
    if (o[1]) out['os.version'] = o[1]
  }
  const touch = (n.maxTouchPoints || 0) > 1
  // iPads say "Mobile" too (and pose as a Mac with a touch screen); Android tablets do not
  out['device.type'] = /iPad|Tablet/.test(ua) || (/Android/.test(ua) && !/Mobile/.test(ua)) || (o && o[0] === 'macOS' && touch) ? 'tablet' : /Mobi|iPhone|iPod/.test(ua) ? 'mobile' : 'desktop'
  if (s.width) {
    out['screen.width'] = s.width
    out['screen.height'] = s.height
  }
  if (n.language) out['browser.language'] = n.language
  try {
    out['timezone'] = Intl.DateTimeFormat().resolvedOptions().timeZone
  } catch {}
  return out
}
