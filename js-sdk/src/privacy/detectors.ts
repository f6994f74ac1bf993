/** Value-level PII detectors: the kinds, their patterns, validators and cheap gates (as Python's privacy_detectors.py). */

// The patterns are Python's, written once in Python's notation and translated here: `\d` is any
// Unicode decimal digit and `\s` Python's white space (as in Python's `re` on str), `(?i:...)`
// becomes case-insensitive character classes (with the non-ASCII letters Python's `re` folds onto
// `i`, `s` and `k`). Every repetition is bounded and every pattern starts with a look-behind on
// its own leading class, so a scan stays linear in the length of the text.

/** Detector kinds, in the order they run. Earlier detectors win over later ones. */
export const KINDS = 'private_key url_credentials url_secret jwt auth_header api_key secret email iban card ssn phone ip home_path'.split(' ')
export const ACTIONS = 'redact hash mask drop off'.split(' ')

/** a Python-notation pattern as a JS RegExp (g: searched from a position, d: group offsets, u: code points) */
export const py = (src: string, f = 'gdu'): RegExp =>
  new RegExp(src.replace(/\\d/g, '\\p{Nd}').replace(/\\s/g, '\\s\\x1c-\\x1f\\x85').replace(/\(\?i:([^)]*)\)/g, (_, w: string) =>
    '(?:' + w.replace(/[a-z]/g, (c) => '[' + c + c.toUpperCase() + (({ i: '\u0131\u0130', s: '\u017f', k: '\u212a' } as any)[c] || '') + ']') + ')'), f)

const NOT_PH = '(?!\\[(?:REDACTED|HASHED|MASKED):)'
const PH_HEAD = /\[(?:HASHED|MASKED):[a-z_]*$/
const PK = '[ A-Z0-9]{0,40}PRIVATE KEY[ A-Z]{0,10}-----'
const B64 = '[A-Za-z0-9_-]'
const OCT = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const HOME_NAME = '[^/\\\\\\s"\'<>:|*?()\\[\\]]{1,64})(?=[/\\\\\\s"\'<>:|,;)\\]]|$)'
const SEP_2 = '(?:\\\\{1,2}|/)'

const P = [
  '-----BEGIN' + PK + '(?:[^-]|-(?!----)){0,16384}(?:-----END' + PK + ')?',
  '://(?<v>[^\\s/?#@:\\[\\]]{0,128}:[^\\s/?#@\\[\\]]{1,256})@',
  '[?&;](?i:access_token|refresh_token|id_token|auth_token|private_token|token|api_key|apikey|api-key|key|password|passwd|pwd|secret|client_secret|sig|signature|session|sessionid|session_id|jwt|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|x-goog-credential)=' +
    NOT_PH + '(?<v>[^&#\\s"\'<>()]{1,2048})',
  `(?<!${B64})eyJ${B64}{5,8192}\\.eyJ${B64}{2,16384}\\.${B64}{0,8192}(?!${B64})`,
  '(?<![A-Za-z0-9])(?i:bearer|basic)[ \\t]{1,4}(?<v>[A-Za-z0-9._~+/-]{8,4096}={0,3})(?![A-Za-z0-9._~+/=-])',
  `(?<!${B64})(?:(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{20,255}|xox[abposre]-[A-Za-z0-9-]{10,250}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,247}|AIza[0-9A-Za-z_-]{35}|sk-${B64}{20,250})(?!${B64})` +
    '|(?<![A-Za-z0-9])(?i:aws)[A-Za-z0-9_.-]{0,32}?(?i:secret|key)[A-Za-z0-9_.-]{0,20}?["\']?[ \\t]{0,3}[:=][ \\t]{0,3}["\']?(?<v2>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])',
  '(?:(?<![A-Za-z0-9])|(?<=[a-z0-9])(?=[A-Z]))(?i:password|passwd|passphrase|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|session[_-]?id)' +
    '(?<sep>["\']?[ \\t]{0,3}[:=][ \\t]{0,3})' + NOT_PH + '(?:"(?<v1>[^"\\n]{1,256})"|\'(?<v2>[^\'\\n]{1,256})\'|(?<v>[^\\s"\',;&<>(){}\\[\\]]{1,256}))',
  '(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\\.[A-Za-z0-9-]{1,63}){0,8}\\.[A-Za-z]{2,24}(?![A-Za-z0-9-]|\\.[A-Za-z0-9])',
  '(?<![A-Za-z0-9])[A-Z]{2}\\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])',
  '(?<![A-Za-z0-9_-])(?:[2-6]\\d{12,18}|[2-6]\\d{3}(?<s1>[ .-])\\d{4}\\k<s1>\\d{4}\\k<s1>\\d{1,7}|3\\d{3}(?<s2>[ -])\\d{6}\\k<s2>\\d{4,5})(?![A-Za-z0-9_])',
  '(?<![A-Za-z0-9_-])(?!000|666|9\\d\\d)\\d{3}(?<s>[- ])(?!00)\\d{2}\\k<s>(?!0000)\\d{4}(?![A-Za-z0-9_-])',
  '(?<![A-Za-z0-9_+])(?:\\+[1-9]\\d{6,14}(?!\\d)|\\+[1-9]\\d{0,3}(?:[ .-]?\\(\\d{1,5}\\))?[ .-]?\\d{1,8}(?:[ .-]\\d{1,8}){0,6}(?!\\d)' +
    '|(?<![.-])(?:1[ .-])?(?:\\([2-9]\\d{2}\\)[ ]?|[2-9]\\d{2}[ .-])\\d{3}[ .-]\\d{4}(?![\\d]|[.-]\\d)|(?<![.-])0[1-9]\\d{0,3}(?:[ .-]\\d{2,8}){1,4}(?!\\d|[.-]\\d))',
  '(?<![A-Za-z0-9_:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}(?:(?<=:)(?:\\d{1,3}\\.){3}\\d{1,3})?(?![A-Za-z0-9_:]|\\.[A-Za-z0-9])',
  `(?<![A-Za-z0-9_.])(?:${OCT}\\.){3}${OCT}(?![A-Za-z0-9_]|\\.\\d)`,
  `(?<![A-Za-z0-9_.~-])(?:/(?:home|Users)/${HOME_NAME}|(?<![A-Za-z0-9_])(?:[A-Za-z]:${SEP_2}(?i:users)${SEP_2}${HOME_NAME}`,
].map((s) => py(s))

type M = RegExpExecArray
export type Validator = ((v: string, m: M, s: string) => boolean) | 0

const count = (s: string, re: RegExp): number => (s.match(re) || []).length
const low = (s: string): string => s.toLowerCase()
const EXT = new Set('png jpg jpeg gif svg webp ico bmp css js mjs ts tsx jsx map json txt py md html htm xml yaml yml toml lock whl'.split(' '))
const SHARED = new Set(['shared', 'public', 'default', 'default user', 'all users'])

/** The Luhn checksum of a digit string (payment cards). */
export const luhnOk = (d: string): boolean => {
  let t = 0
  ;[...d].reverse().forEach((c, i) => {
    let x = c.codePointAt(0)! - 48
    if (i % 2) x = x * 2 > 9 ? x * 2 - 9 : x * 2
    t += x
  })
  return t % 10 == 0
}

/** Length and the ISO 13616 mod-97 check of an IBAN (spaces ignored). */
export const ibanOk = (v: string): boolean => {
  const s = v.replace(/ /g, '')
  let r = 0
  if (s.length < 15 || s.length > 34 || /[^A-Z0-9]/.test(s)) return false
  for (const c of s.slice(4) + s.slice(0, 4)) {
    const x = parseInt(c, 36)
    r = (r * (x > 9 ? 100 : 10) + x) % 97
  }
  return r == 1
}

// An address has "::" or all eight groups (six when it ends in an IPv4 address); parsed as
// Python's ipaddress.IPv6Address does, loopback and unspecified kept.
const ipv6Ok = (v: string): boolean => {
  if (!v.includes('::') && count(v, /:/g) < 6) return false
  let p = v.split(':')
  const last = p[p.length - 1]
  if (last.includes('.')) {
    const o = last.split('.')
    if (o.length != 4 || o.some((x) => !/^(0|[1-9]\d{0,2})$/.test(x) || +x > 255)) return false
    p.splice(-1, 1, ((+o[0] << 8) + +o[1]).toString(16), ((+o[2] << 8) + +o[3]).toString(16))
  }
  const n = p.length
  let skip = -1
  if (n > 9) return false
  for (let i = 1; i < n - 1; i++) if (!p[i]) { if (skip >= 0) return false; skip = i }
  if (skip >= 0) {
    const hi = p.slice(0, skip), lo = p.slice(skip + 1)
    if (!hi[0]) { if (hi.length > 1) return false; hi.shift() }
    if (!lo[lo.length - 1]) { if (lo.length > 1) return false; lo.pop() }
    if (hi.length + lo.length > 7) return false
    p = hi.concat(Array(8 - hi.length - lo.length).fill('0'), lo)
  } else if (n != 8) return false
  if (p.some((g) => !/^[0-9A-Fa-f]{1,4}$/.test(g))) return false
  const x = p.map((g) => parseInt(g, 16))
  return x.slice(0, 7).some(Boolean) || x[7] > 1
}

/** Every detector in the order it runs: [kind, pattern, validator]. The value is group v (or v1/v2) or the whole match. */
export const DETECTORS: [string, RegExp, Validator][] = [
  ['private_key', P[0], 0],
  ['url_credentials', P[1], 0],
  ['url_secret', P[2], 0],
  ['jwt', P[3], 0],
  // a word after Bearer/Basic is a credential only if it does not look like prose
  ['auth_header', P[4], (v) => /[\d+/=._~-]/.test(v) || /[A-Z]/.test(v.slice(1))],
  ['api_key', P[5], 0],
  [
    'secret',
    P[6],
    // "[HASHED:api_key:3f2a...]" is our own output; "Invalid token: expired" is prose
    (v, m, s) => !PH_HEAD.test(s.slice(Math.max(0, m.index - 24), m.index)) && (!m.groups!.v || m.groups!.sep.includes('=') || [...v].length >= 16 || !/^\p{L}+$/u.test(v)),
  ],
  ['email', P[7], (v) => !EXT.has(low(v.slice(v.lastIndexOf('.') + 1)))],
  ['iban', P[8], ibanOk],
  ['card', P[9], (v) => { const d = v.replace(/[ .-]/g, ''); const n = [...d].length; return n > 12 && n < 20 && luhnOk(d) }],
  ['ssn', P[10], 0],
  ['phone', P[11], (v) => { const n = count(v, /\p{Nd}/gu); return v[0] == '+' ? n > 7 && n < 16 : v[0] != '0' || (n > 8 && n < 13) }],
  ['ip', P[12], ipv6Ok],
  ['ip', P[13], (v) => !/^127\.|^0\.0\.0\.0$|^255\.255\.255\.255$/.test(v)],
  ['home_path', P[14], (v) => !SHARED.has(low(v.replace(/[\\/]+$/, '').split(/[\\/]+/).pop()!))],
]

const API_HINT = /AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|xox|k_live_|k_test_|AIza|sk-/
const IBAN_HINT = py('[A-Z]{2}\\d\\d ?[A-Z0-9]{4}', 'u')
const SECRET_HINT = /pass|pwd|secret|token|key|credential|session/
const DIGIT_RUN = py('\\d[\\d \\t().-]*\\d', 'gu')

/** For each of DETECTORS, a cheap necessary condition for it to match `t`. */
export const gates = (t: string): boolean[] => {
  const l = low(t)
  const h = (x: string): boolean => t.includes(x)
  const r = Math.max(0, ...(t.match(DIGIT_RUN) || []).map((x) => x.length))
  return [
    h('-----BEGIN'),
    h('://') && h('@'),
    h('='),
    h('eyJ'),
    /bearer|basic/.test(l),
    l.includes('aws') || API_HINT.test(t),
    (h('=') || h(':')) && SECRET_HINT.test(l),
    h('@'),
    IBAN_HINT.test(t),
    r > 12,
    r > 10,
    r > 6,
    count(t, /:/g) > 1,
    r > 6,
    h('/home/') || /\/users\/|\\users\\/.test(l),
  ]
}
