/** Coarse device context from standard APIs (browser and OS family with major version, type, screen, language, time zone). */
import { g } from './env'

/**
 * The first `name=pattern` (`;`-separated, in order) whose pattern matches `ua`: [name, major
 * version ('' when the pattern has no version)].
 */
const family = (ua: string, table: string): string[] | undefined => {
  for (const row of table.split(';')) {
    const [name, re] = row.split('=')
    const m = new RegExp(re).exec(ua)
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
  const b = family(ua, 'Edge=Edg(?:e|A|iOS)?/(\\d+);Opera=(?:OPR|Opera)/(\\d+);Samsung Internet=SamsungBrowser/(\\d+);Firefox=(?:Firefox|FxiOS)/(\\d+);Chrome=(?:Chrome|CriOS)/(\\d+);Safari=Version/(\\d+).*Safari')
  const o = family(ua, 'Windows=Windows NT (\\d+);iOS=(?:iPhone|iPad|iPod).*? OS (\\d+);macOS=Mac OS X (\\d+);Android=Android (\\d+);ChromeOS=CrOS;Linux=Linux')
  if (b) {
    out['browser.name'] = b[0]
    out['browser.version'] = b[1]
  }
  if (o) {
    out['os.name'] = o[0]
    // Windows NT 10 is Windows 10 and 11 alike; a major version is all we keep anyway
    if (o[1]) out['os.version'] = o[1]
  }
  // iPads say "Mobile" too (and pose as a Mac with a touch screen); Android tablets do not
  out['device.type'] =
    /iPad|Tablet/.test(ua) || (/Android/.test(ua) && !/Mobile/.test(ua)) || (o && o[0] === 'macOS' && n.maxTouchPoints > 1) ? 'tablet' : /Mobi|iPhone|iPod/.test(ua) ? 'mobile' : 'desktop'
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
