/** URLs as they may leave the page: UTM parameters kept, secret-named parameters removed, other values left to the privacy engine. */

/** Words that make a query parameter secret (its whole name or any word of it): it is removed. */
const SECRET_WORDS = /^((access|id)?token|tokens|(api)?key|keys|auth(orization)?|session(id)?|sid|pass(word|wd|phrase)?|pwd|secret|sig(nature)?|code|state|jwt|otp|credentials?|nonce|ticket)$/

/** `access_token`, `apiKey`, `X-Session` and `sessionid` are secret; `q`, `page` and `keyword` are not. */
export const secretParam = (name: string): boolean =>
  SECRET_WORDS.test(name.toLowerCase()) ||
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .some((w) => SECRET_WORDS.test(w))

export interface CleanUrl {
  path: string
  full: string
  host: string
  utm: Record<string, string>
}

/**
 * Parse `href` (relative to the page) and rebuild it without secret-named parameters; the values
 * kept (UTM values too) are scanned by the privacy engine with every other attribute.
 */
export const cleanUrl = (href: string, base?: string): CleanUrl | undefined => {
  let u: URL
  try {
    u = new URL(href, base)
  } catch {
    return
  }
  const utm: Record<string, string> = {}
  const q = new URLSearchParams()
  u.searchParams.forEach((v, k) => {
    // a secret-named parameter goes, UTM-looking or not (utm_token)
    if (secretParam(k)) return
    q.append(k, v)
    if (/^utm_/i.test(k)) utm['utm.' + k.slice(4).toLowerCase()] = v
  })
  // a fragment is kept only as a client-side route (#/cart, #!/cart), without its query
  const h = /^#!?\//.test(u.hash) ? u.hash.split('?')[0] : ''
  const s = q.toString()
  const path = u.pathname
  return { path, full: u.origin + path + (s ? '?' + s : '') + h, host: u.host, utm }
}

const SEARCH = /(^|\.)(google|bing|duckduckgo|yahoo|baidu|yandex|ecosia|qwant|startpage|search\.brave|naver|seznam|sogou|kagi)\./
const SOCIAL = /(^|\.)(facebook|fb|instagram|twitter|t|x|linkedin|lnkd|reddit|youtube|tiktok|pinterest|tumblr|vk|weibo|threads|bsky|mastodon|news\.ycombinator|discord|telegram|whatsapp)\.[a-z.]+$/

/** The referrer's host and class: search, social, internal, referral (another site) or direct. */
export const referrer = (ref: string, here: string): { 'referrer.host'?: string; 'referrer.class': string } => {
  let host = ''
  try {
    host = new URL(ref).hostname.toLowerCase()
  } catch {}
  if (!host) return { 'referrer.class': 'direct' }
  const cls = host === here ? 'internal' : SEARCH.test(host + '.') ? 'search' : SOCIAL.test(host) ? 'social' : 'referral'
  return { 'referrer.host': host, 'referrer.class': cls }
}
