/** Clicks: `element.click` on links, buttons and [data-astrid-event] elements; `link.outbound`; `file.download`. */
import type { Ctx } from './context'
import { doc, g, on } from './env'
import { cleanUrl, type CleanUrl } from './url'

/** Extensions counted as downloads unless the app gives its own list. */
export const DOWNLOAD_EXTENSIONS = /* @__PURE__ */ 'pdf,zip,gz,tgz,bz2,xz,7z,rar,tar,dmg,pkg,exe,msi,deb,rpm,apk,iso,csv,xls,xlsx,doc,docx,ppt,pptx,odt,ods,rtf,txt,epub,mp3,wav,mp4,mov,avi,mkv,webm'.split(',')

/**
 * Listen for primary and middle clicks; `fn` gets the element a click counts for (a link, a button,
 * a [data-astrid-event] element) and, for a link, its sanitized URL.
 */
const clicks = (fn: (el: any, url?: CleanUrl) => void): void => {
  const h = (e: any): void => {
    const el = e.target.closest('a,button,[data-astrid-event],input[type=submit],input[type=button],[role=button]')
    if (el && (e.type === 'click' || e.button === 1)) fn(el, el.tagName === 'A' && el.href ? cleanUrl(el.href) : undefined)
  }
  on(doc, 'click', h)
  on(doc, 'auxclick', h)
}

export const elementClicks = (ctx: Ctx): void =>
  clicks((el, u) => {
    const a: Record<string, unknown> = { 'element.tag': el.tagName.toLowerCase() }
    const put = (k: string, v: unknown): unknown => v && (a[k] = v)
    put('element.id', el.id)
    put('element.classes', typeof el.className === 'string' && el.className.trim().replace(/\s+/g, ' '))
    // trimmed visible text, at most 100 characters; never the value of a form field
    put('element.text', el.tagName !== 'INPUT' && String(el.textContent || '').replace(/\s+/g, ' ').trim().slice(0, 100))
    put('element.event', el.getAttribute('data-astrid-event'))
    put('link.url', u && u.full)
    ctx.track_('element.click', a)
  })

export const outboundLinks = (ctx: Ctx): void =>
  clicks((el, u) => u && /^https?:/.test(el.protocol) && u.host !== g.location.host && ctx.track_('link.outbound', { 'link.url': u.full, 'link.host': u.host }))

export interface DownloadOptions {
  /** file extensions that count as downloads (default: DOWNLOAD_EXTENSIONS) */
  extensions?: string[]
}

export const fileDownloads = (ctx: Ctx, o: DownloadOptions = {}): void => {
  const exts = (o.extensions || DOWNLOAD_EXTENSIONS).map((x) => String(x).toLowerCase().replace(/^\./, ''))
  clicks((el, u) => {
    if (!u) return
    const ext = (/\.([a-z0-9]{1,8})$/i.exec(u.path) || ['', ''])[1].toLowerCase()
    if ((ext && exts.indexOf(ext) >= 0) || el.hasAttribute('download')) {
      ctx.track_('file.download', { 'link.url': u.full, 'file.extension': ext, 'file.name': decodeURIComponent(u.path.split('/').pop() || '') })
    }
  })
}
