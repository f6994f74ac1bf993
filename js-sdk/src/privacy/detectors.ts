/** Value-level PII detectors: the kinds, their patterns, validators and cheap gates (as Python's privacy/detectors.py). */

// The patterns are Python's, written once in Python's notation and translated here: `\d` is any
// Unicode decimal digit, `\w` a letter, number or underscore and `\s` exactly Python's white
// space (JS's `\s` also holds U+FEFF, Python's also U+001C-U+001F and U+0085), `(?i:...)`
// becomes case-insensitive character classes (with the non-ASCII letters Python's `re` folds onto
// `i`, `s` and `k`). Every repetition is bounded and every pattern starts with a look-behind on
// its own leading class, so a scan stays linear in the length of the text.

/** Detector kinds, in the order they run. Earlier detectors win over later ones. */
export const KINDS = 'private_key url_credentials url_secret jwt auth_header api_key secret email iban card ssn phone ip home_path'.split(' ')
export const ACTIONS = 'redact hash mask drop off'.split(' ')

/** a Python-notation pattern as a JS RegExp (g: searched from a position, d: group offsets, u: code points) */
export const py = (src: string, f = 'gdu'): RegExp => {
  let i
  src = src.replace(/\\w/g, '[\\p{L}\\p{N}_]').replace(/\\d/g, '\\p{Nd}').replace(/\\s/g, '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000')
  // (?i:...) sections hold no character class with letters and no escaped parenthesis
  while ((i = src.indexOf('(?i:')) >= 0) {
    let d = 1
    let j = i + 4
    for (; d; j++) d += src[j] == '(' ? 1 : src[j] == ')' ? -1 : 0
    src =
      src.slice(0, i) +
      '(?:' +
      src.slice(i + 4, j).replace(/[a-z]/g, (c) => '[' + c + c.toUpperCase() + (({ i: '\u0131\u0130', s: '\u017f', k: '\u212a' } as any)[c] || '') + ']') +
      src.slice(j)
  }
  return new RegExp(src, f)
}

const NOT_PH = '(?!\\[(?:REDACTED|HASHED|MASKED):)'
const PH_HEAD = /\[(?:HASHED|MASKED):[a-z_]*$/
const PK = '[ A-Z0-9]{0,40}PRIVATE KEY[ A-Z]{0,10}-----'
const B64 = '[A-Za-z0-9_-]'
const OCT = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const HOME_NAME = '[^/\\\\\\s"\'<>:|*?()\\[\\]]{1,64})(?=[/\\\\\\s"\'<>:|,;)\\]]|$)'
const SEP_2 = '(?:\\\\{1,2}|/)'
const WORDS = 'password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|session[_-]?id'
const VALUE = NOT_PH + '(?:"(?<v1>[^"\\n]{1,256})"|\'(?<v2>[^\'\\n]{1,256})\'|(?<v>'
const V_END = '[^\\s"\',;&<>(){}\\[\\]'
const PHONE_END = '(?!\\d|[.-]\\d)'

const P = [
  '-----BEGIN' + PK + '(?:[^-]|-(?!----)){0,16384}(?:-----END' + PK + ')?',
  '://(?<v>[^\\s/?#@:\\[\\]]{0,128}:[^\\s/?#@\\[\\]]{1,256})@',
  // the names of Python's URL parameter list, written compactly (the same set of names)
  '[?&;#](?i:(?:access[_-]?|refresh_|id_|auth_|private_|session_?|(?:c|x)srf_|oauth_)?token|api[_-]?key|(?:auth_?|private_|access_|secret_)?key|passw(?:or)?d|pwd|(?:client_)?(?:secret|assertion)|sig(?:nature)?|session(?:_?id)?|jwt' +
    '|x-(?:amz-(?:signature|credential|security-token)|goog-(?:signature|credential))|code|auth(?:orization)?|csrf|oauth_(?:verifier|signature)|samlresponse|credentials?|otp|ticket)=' +
    NOT_PH + '(?<v>[^&#\\s"\'<>()]{1,2048})',
  `(?<!${B64})eyJ${B64}{5,8192}\\.eyJ${B64}{2,16384}\\.${B64}{0,8192}(?!${B64})`,
  '(?<![A-Za-z0-9])(?i:bearer|basic)[ \\t]{1,4}(?<v>[A-Za-z0-9._~+/-]{8,4096}={0,3})(?![A-Za-z0-9._~+/=-])',
  `(?<!${B64})(?:(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{20,255}|xox[abposre]-[A-Za-z0-9-]{10,250}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,247}|AIza[0-9A-Za-z_-]{35}|sk-${B64}{20,250})(?!${B64})` +
    '|(?<![A-Za-z0-9])(?i:aws)[A-Za-z0-9_.-]{0,32}?(?i:secret|key)[A-Za-z0-9_.-]{0,20}?["\']?[ \\t]{0,3}[:=][ \\t]{0,3}["\']?(?<v2>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])',
  // the name starts a word: after a separator, a camel-case hump (dbPassword) or, in an
  // upper-case environment variable, right after its prefix (PGPASSWORD, MYSQLPWD)
  '(?:(?<![A-Za-z0-9])|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=(?:PASSWORD|PASSWD|PASSPHRASE|PWD|SECRET|TOKEN)["\']?[ \\t]{0,3}[:=]))(?i:' + WORDS + ')' +
    '(?<sep>["\']?[ \\t]{0,3}[:=][ \\t]{0,3})' + VALUE + V_END + ']{1,256}))',
  // a command-line flag with its value after a space or '=': --password hunter2, --db-token=abc
  '(?<![A-Za-z0-9-])--(?:[A-Za-z0-9]{1,20}-){0,3}(?i:' + WORDS + '|client-secret)(?:[ \\t]{1,3}|=)' + VALUE + V_END + '-]' + V_END + ']{0,255}))',
  // an XML element: <password>hunter2</password>, <dbPassword>...</dbPassword>
  '<[A-Za-z0-9_.:-]{0,40}?(?i:' + WORDS + ')>' + NOT_PH + '(?<v>[^<>\\n]{1,256})</',
  // the @ may be URL-encoded (?email=ada%40example.com)
  '(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}(?:@|%40)[A-Za-z0-9-]{1,63}(?:\\.[A-Za-z0-9-]{1,63}){0,8}\\.[A-Za-z]{2,24}(?![A-Za-z0-9-]|\\.[A-Za-z0-9])',
  '(?<![A-Za-z0-9])[A-Z]{2}\\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])',
  // plain, or 3-5 groups under one separator: 4-4-4-4, 4-6-5, 4-3-3-3, 4-4-4-4-3, 6-13 ...
  '(?<![A-Za-z0-9_-])(?:[2-6]\\d{12,18}|[2-6]\\d{3,5}(?<s>[ .-])\\d{2,13}(?:\\k<s>\\d{1,7}){0,3})(?![A-Za-z0-9_])',
  '(?<![A-Za-z0-9_-])(?!000|666|9\\d\\d)\\d{3}(?<s>[- ])(?!00)\\d{2}\\k<s>(?!0000)\\d{4}(?![A-Za-z0-9_-])',
  // international (E.164 or grouped), North American, national with a trunk 0 (not inside a
  // longer run of digit groups), an area code in brackets, the 00 prefix, a slash after the area code
  '(?<![A-Za-z0-9_+])(?:\\+[1-9]\\d{6,14}(?!\\d)|\\+[1-9]\\d{0,3}(?:[ .-]?\\(\\d{1,5}\\))?[ .-]?\\d{1,8}(?:[ .-]\\d{1,8}){0,6}(?!\\d)' +
    '|(?<![.-])(?:1[ .-])?(?:\\([2-9]\\d{2}\\)[ ]?|[2-9]\\d{2}[ .-])\\d{3}[ .-]\\d{4}(?![\\d]|[.-]\\d)|(?<![.-])(?<!\\d )0[1-9]\\d{0,3}(?:[ .-]\\d{2,8}){1,4}' + PHONE_END +
    '|\\(0?[1-9]\\d{0,3}\\)[ ]?\\d{2,8}(?:[ .-]\\d{2,8}){0,3}' + PHONE_END + '|(?<![.-])(?<!\\d )00[1-9]\\d{0,3}(?:[ .-]\\d{1,8}){1,6}' + PHONE_END +
    '|(?<![/.-])0[1-9]\\d{1,4}/\\d{3,10}(?![\\d/]|\\.\\w))',
  '(?<![A-Za-z0-9_:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}(?:(?<=:)(?:\\d{1,3}\\.){3}\\d{1,3})?(?![A-Za-z0-9_:]|\\.[A-Za-z0-9])',
  `(?<![A-Za-z0-9_.])(?:${OCT}\\.){3}${OCT}(?![A-Za-z0-9_]|\\.\\d)`,
  // /home/<u>, /Users/<u>, C:\\Users\\<u>, C:/Users/<u>, and the same under WSL and Cygwin/MSYS mounts
  `(?<![A-Za-z0-9_.~-])(?:/(?:home|Users)/${HOME_NAME}|(?<![A-Za-z0-9_])(?:(?:[A-Za-z]:|(?:/mnt|/cygdrive)?/[A-Za-z](?=/))${SEP_2}(?i:users)${SEP_2}${HOME_NAME}`,
]

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

// An address has "::" or all eight groups (six when it ends in an IPv4 address); checked as
// Python's ipaddress.IPv6Address parses it (on what the pattern lets through), loopback and
// unspecified kept.
const ipv6Ok = (v: string): boolean => {
  const s = v.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, ...o) =>
    o.slice(0, 4).some((x: string) => /^0./.test(x) || +x > 255) ? '.' : ((o[0] << 8) + +o[1]).toString(16) + ':' + ((o[2] << 8) + +o[3]).toString(16),
  )
  const n = s.split(/:+/).filter(Boolean).length
  const z = s.includes('::')
  return (
    (z || count(v, /:/g) > 5) &&
    /^[\da-f:]+$/i.test(s) &&
    !/:::|^:[^:]|[^:]:$|::.*::/.test(s) &&
    (z ? n < 8 : n == 8) &&
    !/^[0:]*1?$/.test(s.replace(/\w+/g, (x) => parseInt(x, 16).toString(16)))
  )
}

const PATHLIKE = /^([/~]|[A-Za-z]:[\\/])/
// what may stand before a key on its line: indentation, a YAML list dash, an opening quote
const LINE_START = /^[ \t]*(- )?["']?[A-Za-z0-9_.-]*$/

// the kind of each pattern of P, and its validator (0: none), in the order they run
const TABLE_KINDS = 'private_key url_credentials url_secret jwt auth_header api_key secret secret secret email iban card ssn phone ip ip home_path'.split(' ')
const VALIDATORS: Validator[] = [
  0, // private_key
  0, // url_credentials
  0, // url_secret
  0, // jwt
  // auth_header: a word after Bearer/Basic is a credential only if it does not look like prose
  (v) => /[\d+/=._~-]/.test(v) || /[A-Z]/.test(v.slice(1)),
  0, // api_key
  // secret (assignment)
  (v, m, s) => {
    const g = m.groups!
    const end = m.index + m[0].length
    const sep = (m as any).indices.groups.sep[0]
    // "[HASHED:api_key:3f2a...]" is our own output; PWD=/home/ada/app is the shell's working directory
    if (PH_HEAD.test(s.slice(Math.max(0, m.index - 24), m.index)) || (low(s.slice(sep - 3, sep)) == 'pwd' && PATHLIKE.test(v))) return false
    // "Invalid token: expired" is prose; "token: s3cr3t" is not, nor a line holding nothing but
    // the assignment (a YAML or .env line: "pwd: letmein")
    return (
      !g.v || g.sep.includes('=') || [...v].length > 15 || !/^\p{L}+$/u.test(v) ||
      ((end == s.length || '\r\n'.includes(s[end])) && LINE_START.test(s.slice(s.lastIndexOf('\n', m.index - 1) + 1, m.index)))
    )
  },
  0, // secret (command-line flag)
  0, // secret (XML element)
  // email: the top-level domain is no file extension (icon@2x.png)
  (v) => !EXT.has(low(v.slice(v.lastIndexOf('.') + 1))),
  ibanOk,
  // card: 13-19 digits and the Luhn checksum
  (v) => {
    const d = v.replace(/[ .-]/g, '')
    const n = [...d].length
    return n > 12 && n < 20 && luhnOk(d)
  },
  0, // ssn
  // phone: 8-15 digits after +, 10-17 after 00, 9-12 with a trunk 0 or an area code in brackets
  (v) => {
    const n = count(v, /\p{Nd}/gu)
    return v[0] == '+' ? n > 7 && n < 16 : v.startsWith('00') ? n > 9 && n < 18 : !/^[0(]/.test(v) || (n > 8 && n < 13)
  },
  ipv6Ok,
  (v) => !/^127\.|^0\.0\.0\.0$|^255\.255\.255\.255$/.test(v),
  // home_path: /Users/Shared and the like are kept
  (v) => !SHARED.has(low(v.replace(/[\\/]+$/, '').split(/[\\/]+/).pop()!)),
]

let compiled: [string, RegExp, Validator][] | undefined
/**
 * Every detector in the order it runs: [kind, pattern, validator]. The value is group v (or
 * v1/v2) or the whole match. Compiled on first use, on the worker: where a browser lacks
 * look-behind, that fails inside the engine's error handling (the record is dropped), never
 * when the SDK loads.
 */
export const detectors = (): [string, RegExp, Validator][] => compiled || (compiled = TABLE_KINDS.map((k, i) => [k, py(P[i]), VALIDATORS[i]]))

const API_HINT = /AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|xox|k_live_|k_test_|AIza|sk-/
const IBAN_HINT = py('[A-Z]{2}\\d\\d ?[A-Z0-9]{4}', 'u')
const SECRET_HINT = /pass|pwd|secret|token|key|credential|session/
const DIGIT_RUN = py('\\d[\\d \\t().-]*\\d', 'gu')

/** For each of detectors(), a cheap necessary condition for it to match `t`. */
export const gates = (t: string): boolean[] => {
  const l = low(t)
  const h = (x: string): boolean => t.includes(x)
  const r = Math.max(0, ...(t.match(DIGIT_RUN) || []).map((x) => x.length))
  const hint = SECRET_HINT.test(l)
  return [
    h('-----BEGIN'),
    h('://') && h('@'),
    h('='),
    h('eyJ'),
    /bearer|basic/.test(l),
    l.includes('aws') || API_HINT.test(t),
    (h('=') || h(':')) && hint,
    h('--') && hint,
    h('</') && hint,
    h('@') || h('%40'),
    IBAN_HINT.test(t),
    // the shortest card is 13 digits, an SSN 11 characters, a phone number or IPv4 address 7
    r > 12,
    r > 10,
    r > 6,
    count(t, /:/g) > 1,
    r > 6,
    h('/home/') || /\/users\/|\\users\\/.test(l),
  ]
}
