/** Clicks: `element.click` on links, buttons and [data-astrid-event] elements; `link.outbound`; `file.download`. */
import type { Ctx } from './context'
import { doc, on, safe, win } from './env'
import { cleanUrl } from './url'

const TARGETS = 'a,button,[data-astrid-event],input[type=submit],input[type=button],[role=button]'

/** Extensions counted as downloads unless the app gives its own list. */
export const DOWNLOAD_EXTENSIONS = 'pdf,zip,gz,tgz,bz2,xz,7z,rar,tar,dmg,pkg,exe,msi,deb,rpm,apk,iso,csv,xls,xlsx,doc,docx,ppt,pptx,odt,ods,rtf,txt,epub,mp3,wav,mp4,mov,avi,mkv,webm'.split(',')

/** Listen for primary and middle clicks; `fn` gets the element a click counts for. */
const clicks = (fn: (el: any) => void): void => {
  const h = safe((e: any) => {
    const el = e.target && e.target.closest && e.target.closest(TARGETS)
    if (el && (e.type === 'click' || e.button === 1)) fn(el)
  })
  on(doc, 'click', h)
  on(doc, 'auxclick', h)
}

/** Trimmed visible text, at most 100 characters; never the value of a form field. */
const text = (el: any): string => (el.tagName === 'INPUT' ? '' : String(el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 100))

const link = (ctx: Ctx, el: any) => (el.tagName === 'A' && el.href ? cleanUrl(el.href) : undefined)

export const elementClicks = (ctx: Ctx): void =>
  clicks((el) => {
    const a: Record<string, unknown> = { 'element.tag': el.tagName.toLowerCase(), 'url.path': ctx.path() }
    if (el.id) a['element.id'] = el.id
    const cls = typeof el.className === 'string' ? el.className.trim() : ''
    if (cls) a['element.classes'] = cls.replace(/\s+/g, ' ')
    const t = text(el)
    if (t) a['element.text'] = t
    const ev = el.getAttribute('data-astrid-event')
    if (ev) a['element.event'] = ev
    const u = link(ctx, el)
    if (u) a['link.url'] = u.full
    ctx.track('element.click', a)
  })

export const outboundLinks = (ctx: Ctx): void =>
  clicks((el) => {
    const u = link(ctx, el)
    if (u && /^https?:/.test(el.protocol) && u.host !== win.location.host) ctx.track('link.outbound', { 'link.url': u.full, 'link.host': u.host, 'url.path': ctx.path() })
  })

export interface DownloadOptions {
  /** file extensions that count as downloads (default: DOWNLOAD_EXTENSIONS) */
  extensions?: string[]
}

export const fileDownloads = (ctx: Ctx, o: DownloadOptions = {}): void => {
  const exts = (o.extensions || DOWNLOAD_EXTENSIONS).map((x) => String(x).toLowerCase().replace(/^\./, ''))
  clicks((el) => {
    const u = link(ctx, el)
    if (!u) return
    const m = /\.([a-z0-9]{1,8})$/i.exec(u.path)
    const ext = m ? m[1].toLowerCase() : ''
    if ((ext && exts.indexOf(ext) >= 0) || el.hasAttribute('download')) {
      ctx.track('file.download', { 'link.url': u.full, 'file.extension': ext, 'file.name': decodeURIComponent(u.path.split('/').pop() || ''), 'url.path': ctx.path() })
    }
  })
}
