/** Value-level PII detectors: the kinds, their patterns, validators and cheap gates (as Python's privacy/detectors.py). */

// The patterns are Python's, written once in Python's notation and translated here: `\d` is any
// Unicode decimal digit and `\s` exactly Python's white space (JS's `\s` also holds U+FEFF,
// Python's also U+001C-U+001F and U+0085), `(?i:...)` becomes case-insensitive character classes
// (with the non-ASCII letters Python's `re` folds onto `i`, `s` and `k`); Python's `\w` is
// written out as `[\p{L}\p{N}_]`. Every repetition is bounded and every pattern starts with a
// look-behind on its own leading class, so a scan stays linear in the length of the text.

export const ACTIONS = 'redact hash mask drop off'.split(' ')

/** a Python-notation pattern as a JS RegExp (g: searched from a position, d: group offsets, u: code points) */
const py = (src: string): RegExp =>
  new RegExp(
    src
      .replace(/\\d/g, '\\p{Nd}')
      .replace(/\\s/g, '\\t-\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000')
      // a (?i:...) section nests groups two deep at most and holds no character class with letters
      .replace(/\(\?i:((?:[^()]|\((?:[^()]|\([^()]*\))*\))*)\)/g, (_, x: string) =>
        '(?:' + x.replace(/[a-z]/g, (c) => '[' + c + c.toUpperCase() + (({ i: '\u0131\u0130', s: '\u017f', k: '\u212a' } as any)[c] || '') + ']') + ')'),
    'gdu',
  )

const NOT_PH = '(?!\\[(?:REDACTED|HASHED|MASKED):)'
const PK = '[ A-Z0-9]{0,40}PRIVATE KEY[ A-Z]{0,10}-----'
const B64 = '[A-Za-z0-9_-]'
const OCT = '(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)'
const HOME_NAME = '[^/\\\\\\s"\'<>:|*?()\\[\\]]{1,64})(?=[/\\\\\\s"\'<>:|,;)\\]]|$)'
const SEP_2 = '(?:\\\\{1,2}|/)'
const SIX = 'password|passwd|passphrase|pwd|secret|token'
const WORDS = SIX + '|api[_-]?key|apikey|access[_-]?key|private[_-]?key|credentials?|session[_-]?id'
const VALUE = NOT_PH + '(?:"(?<v1>[^"\\n]{1,256})"|\'(?<v2>[^\'\\n]{1,256})\'|(?<v>'
const V_END = '[^\\s"\',;&<>(){}\\[\\]'
const PHONE_END = '(?!\\d|[.-]\\d)'

// Gates: a cheap necessary condition for each pattern, tested on the text as given. Python's
// gates read some words in the lower-cased text; here that is spelled out: the ASCII letters of
// either case, and for k also the Kelvin sign (the one other character that lower-cases to an
// ASCII letter of these words), so each gate is true exactly when the lower-case reading is,
// quirks included (a long s in "paſſword" opens no gate in either engine). The digit gates are
// runs of 13, 11 and 7 digit-like characters (the shortest card, SSN, phone number and IPv4).
const HINT = /pass|pwd|secret|to[k\u212a]en|[k\u212a]ey|credential|session/i
const RUN_13 = /\p{Nd}[\p{Nd} \t().-]{11,}\p{Nd}/u
const RUN_7 = /\p{Nd}[\p{Nd} \t().-]{5,}\p{Nd}/u

type M = RegExpExecArray
export type Validator = ((v: string, m: M, s: string) => boolean) | undefined

// auth_header: a word after Bearer/Basic is a credential only if it does not look like prose
const AUTH = (v: string): boolean => /[\d+/=._~-]|.[A-Z]/.test(v)

// secret (assignment)
const SECRET = (v: string, m: M, s: string): boolean => {
  const g = m.groups!
  const i = m.index
  const end = i + m[0].length
  const sep = (m as any).indices.groups.sep[0]
  // "[HASHED:api_key:3f2a...]" is our own output; PWD=/home/ada/app is the shell's working directory
  if (/\[(?:HASHED|MASKED):[a-z_]*$/.test(s.slice(Math.max(0, i - 24), i)) || (s.slice(sep - 3, sep).toLowerCase() == 'pwd' && /^([/~]|[A-Za-z]:[\\/])/.test(v))) return false
  // "Invalid token: expired" is prose; "token: s3cr3t" is not, nor a line holding nothing but
  // the assignment (a YAML or .env line: "pwd: letmein"), after what may stand before a key on
  // its line: indentation, a YAML list dash, an opening quote
  return (
    !g.v || g.sep.includes('=') || [...v].length > 15 || !/^\p{L}+$/u.test(v) ||
    ((end == s.length || '\r\n'.includes(s[end])) && /^[ \t]*(- )?["']?[A-Za-z0-9_.-]*$/.test(s.slice(s.lastIndexOf('\n', i - 1) + 1, i)))
  )
}

// email: the top-level domain is no file extension (icon@2x.png)
const EMAIL = (v: string): boolean => !/\.(?:png|jpe?g|gif|svg|webp|ico|bmp|css|m?js|tsx?|jsx|map|json|txt|py|md|html?|xml|ya?ml|toml|lock|whl)$/i.test(v)

/** Length and the ISO 13616 mod-97 check of an IBAN (spaces ignored; letters count as 10-35). */
const IBAN = (v: string): boolean =>
  /^[A-Z0-9]{15,34}$/.test((v = v.replace(/ /g, ''))) && Number(BigInt((v.slice(4) + v.slice(0, 4)).replace(/[A-Z]/g, (c) => '' + parseInt(c, 36))) % BigInt(97)) == 1

// card: 13-19 digits and the Luhn checksum
const CARD = (v: string): boolean => {
  const d = [...v.replace(/[ .-]/g, '')]
  let t = 0
  d.reverse().forEach((c, i) => {
    let x = c.codePointAt(0)! - 48
    t += i % 2 ? ((x *= 2) > 9 ? x - 9 : x) : x
  })
  return d.length > 12 && d.length < 20 && t % 10 == 0
}

// phone: 8-15 digits after +, 10-17 after 00, 9-12 with a trunk 0 or an area code in brackets
const PHONE = (v: string): boolean => {
  const n = (v.match(/\p{Nd}/gu) || []).length
  return v[0] == '+' ? n > 7 && n < 16 : v.startsWith('00') ? n > 9 && n < 18 : !/^[0(]/.test(v) || (n > 8 && n < 13)
}

// An address has "::" or all eight groups (six before an IPv4 address, which becomes two); checked as
// Python's ipaddress.IPv6Address parses it (on what the pattern lets through), loopback and
// unspecified kept.
const IPV6 = (v: string): boolean => {
  const s = v.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_, a, b, c, d) =>
    [a, b, c, d].some((x) => /^0./.test(x) || x > 255) ? '.' : (a * 256 + +b).toString(16) + ':' + (c * 256 + +d).toString(16),
  )
  const n = s.split(/:+/).filter(Boolean).length
  const z = s.includes('::')
  return (
    /^[\da-f:]+$/i.test(s) &&
    !/:::|^:[^:]|[^:]:$|::.*::/.test(s) &&
    (z ? n < 8 : n == 8) &&
    // leading zeros of a group do not matter here: only 0s and colons, then maybe one 1
    !/^[0:]*1?$/.test(s)
  )
}

const IPV4 = (v: string): boolean => !/^127\.|^0\.0\.0\.0$|^255\.255\.255\.255$/.test(v)

// home_path: /Users/Shared and the like are kept
const HOME = (v: string): boolean => !/(^|[\\/])(shared|public|default( user)?|all users)[\\/]*$/i.test(v)

// Every detector in the order it runs (earlier detectors win over later ones):
// [kind, gate, pattern, validator]. The value is group v (or v1/v2) or the whole match.
const TABLE: [string, RegExp, string, Validator?][] = [
  ['private_key', /-----BEGIN/,
    '-----BEGIN' + PK + '(?:[^-]|-(?!----)){0,16384}(?:-----END' + PK + ')?'],
  ['url_credentials', /@/,
    '://(?<v>[^\\s/?#@:\\[\\]]{0,128}:[^\\s/?#@\\[\\]]{1,256})@'],
  // the names of Python's URL parameter list, written compactly (the same set of names)
  ['url_secret', /=/,
    '[?&;#](?i:(?:access[_-]?|refresh_|id_|auth_|private_|session_?|(?:c|x)srf_|oauth_)?token|api[_-]?key|(?:auth_?|private_|access_|secret_)?key|passw(?:or)?d|pwd|(?:client_)?(?:secret|assertion)|sig(?:nature)?|session(?:_?id)?|jwt' + 
    '|x-(?:amz-(?:signature|credential|security-token)|goog-(?:signature|credential))|code|auth(?:orization)?|csrf|oauth_(?:verifier|signature)|samlresponse|credentials?|otp|ticket)=' + 
    NOT_PH + '(?<v>[^&#\\s"\'<>()]{1,2048})'],
  ['jwt', /eyJ/,
    `(?<!${B64})eyJ${B64}{5,8192}\\.eyJ${B64}{2,16384}\\.${B64}{0,8192}(?!${B64})`],
  ['auth_header', /bearer|basic/i,
    '(?<![A-Za-z0-9])(?i:bearer|basic)[ \\t]{1,4}(?<v>[A-Za-z0-9._~+/-]{8,4096}={0,3})(?![A-Za-z0-9._~+/=-])',
    AUTH],
  ['api_key', /AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|xox|k_live_|k_test_|AIza|sk-|[Aa][Ww][Ss]/,
    `(?<!${B64})(?:(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}|gh[pousr]_[A-Za-z0-9]{30,255}|github_pat_[A-Za-z0-9_]{20,255}|xox[abposre]-[A-Za-z0-9-]{10,250}|[sr]k_(?:live|test)_[A-Za-z0-9]{10,247}|AIza[0-9A-Za-z_-]{35}|sk-${B64}{20,250})(?!${B64})` + 
    '|(?<![A-Za-z0-9])(?i:aws)[A-Za-z0-9_.-]{0,32}?(?i:secret|key)[A-Za-z0-9_.-]{0,20}?["\']?[ \\t]{0,3}[:=][ \\t]{0,3}["\']?(?<v2>[A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])'],
  // the name starts a word: after a separator, a camel-case hump (dbPassword) or, in an
  // upper-case environment variable, right after its prefix (PGPASSWORD, MYSQLPWD)
  ['secret', HINT,
    '(?:(?<![A-Za-z0-9])|(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=(?:' + SIX.toUpperCase() + ')["\']?[ \\t]{0,3}[:=]))(?i:' + WORDS + ')' + 
    '(?<sep>["\']?[ \\t]{0,3}[:=][ \\t]{0,3})' + VALUE + V_END + ']{1,256}))',
    SECRET],
  // a command-line flag with its value after a space or '=': --password hunter2, --db-token=abc
  ['secret', HINT,
    '(?<![A-Za-z0-9-])--(?:[A-Za-z0-9]{1,20}-){0,3}(?i:' + WORDS + '|client-secret)(?:[ \\t]{1,3}|=)' + VALUE + V_END + '-]' + V_END + ']{0,255}))'],
  // an XML element: <password>hunter2</password>, <dbPassword>...</dbPassword>
  ['secret', HINT,
    '<[A-Za-z0-9_.:-]{0,40}?(?i:' + WORDS + ')>' + NOT_PH + '(?<v>[^<>\\n]{1,256})</'],
  // the @ may be URL-encoded (?email=ada%40example.com)
  ['email', /@|%40/,
    '(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}(?:@|%40)[A-Za-z0-9-]{1,63}(?:\\.[A-Za-z0-9-]{1,63}){0,8}\\.[A-Za-z]{2,24}(?![A-Za-z0-9-]|\\.[A-Za-z0-9])',
    EMAIL],
  ['iban', /[A-Z]{2}\p{Nd}\p{Nd} ?[A-Z0-9]{4}/u,
    '(?<![A-Za-z0-9])[A-Z]{2}\\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![A-Za-z0-9])',
    IBAN],
  // plain, or 3-5 groups under one separator: 4-4-4-4, 4-6-5, 4-3-3-3, 4-4-4-4-3, 6-13 ...
  ['card', RUN_13,
    '(?<![A-Za-z0-9_-])(?:[2-6]\\d{12,18}|[2-6]\\d{3,5}(?<s>[ .-])\\d{2,13}(?:\\k<s>\\d{1,7}){0,3})(?![A-Za-z0-9_])',
    CARD],
  ['ssn', /\p{Nd}[\p{Nd} \t().-]{9,}\p{Nd}/u,
    '(?<![A-Za-z0-9_-])(?!000|666|9\\d\\d)\\d{3}(?<s>[- ])(?!00)\\d{2}\\k<s>(?!0000)\\d{4}(?![A-Za-z0-9_-])'],
  // international (E.164 or grouped), North American, national with a trunk 0 (not inside a
  // longer run of digit groups), an area code in brackets, the 00 prefix, a slash after the area code
  ['phone', RUN_7,
    '(?<![A-Za-z0-9_+])(?:\\+[1-9]\\d{6,14}(?!\\d)|\\+[1-9]\\d{0,3}(?:[ .-]?\\(\\d{1,5}\\))?[ .-]?\\d{1,8}(?:[ .-]\\d{1,8}){0,6}(?!\\d)' + 
    '|(?<![.-])(?:1[ .-])?(?:\\([2-9]\\d{2}\\) ?|[2-9]\\d{2}[ .-])\\d{3}[ .-]\\d{4}' + PHONE_END + '|(?<![.-])(?<!\\d )0[1-9]\\d{0,3}(?:[ .-]\\d{2,8}){1,4}' + PHONE_END + 
    '|\\(0?[1-9]\\d{0,3}\\) ?\\d{2,8}(?:[ .-]\\d{2,8}){0,3}' + PHONE_END + '|(?<![.-])(?<!\\d )00[1-9]\\d{0,3}(?:[ .-]\\d{1,8}){1,6}' + PHONE_END + 
    '|(?<![/.-])0[1-9]\\d{1,4}/\\d{3,10}(?![\\d/]|\\.[\\p{L}\\p{N}_]))',
    PHONE],
  ['ip', /:[^]*:/,
    '(?<![A-Za-z0-9_:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,8}(?:(?<=:)(?:\\d{1,3}\\.){3}\\d{1,3})?(?![A-Za-z0-9_:]|\\.[A-Za-z0-9])',
    IPV6],
  ['ip', RUN_7,
    `(?<![A-Za-z0-9_.])(?:${OCT}\\.){3}${OCT}(?![A-Za-z0-9_]|\\.\\d)`,
    IPV4],
  // /home/<u>, /Users/<u>, C:\\Users\\<u>, C:/Users/<u>, and the same under WSL and Cygwin/MSYS mounts
  ['home_path', /\/home\/|([/\\])[Uu][Ss][Ee][Rr][Ss]\1/,
    `(?<![A-Za-z0-9_.~-])(?:/(?:home|Users)/${HOME_NAME}|(?<![A-Za-z0-9_])(?:(?:[A-Za-z]:|(?:/mnt|/cygdrive)?/[A-Za-z](?=/))${SEP_2}(?i:users)${SEP_2}${HOME_NAME}`,
    HOME],]

/** Detector kinds, in the order they run. */
export const KINDS = [...new Set(TABLE.map((r) => r[0]))]

let compiled: [string, RegExp, RegExp, Validator][] | undefined
/**
 * Every detector: [kind, gate, pattern, validator]. Compiled on first use, on the worker: where a
 * browser lacks look-behind, that fails inside the engine's error handling (the record is
 * dropped), never when the SDK loads.
 */
export const detectors = (): [string, RegExp, RegExp, Validator][] => compiled || (compiled = TABLE.map(([k, g, p, v]) => [k, g, py(p), v]))
