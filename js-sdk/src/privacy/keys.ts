/** Key rules: which attribute keys name a secret (removed) or a person's identifier (hashed), as Python's privacy/keys.py. */

/** Keys whose value is a secret; the attribute is removed. Matched on the key's last words, ignoring case and separators. */
export const DEFAULT_SECRET_KEYS = 'password passwd pwd passphrase secret token api_key apikey access_key secret_key private_key authorization auth cookie set-cookie session sessionid jsessionid phpsessid csrf xsrf credential credentials credit_card card_number cc_number cvv cvc ssn social_security_number iban bank_account account_number jwt'.split(' ')

/**
 * Keys that name a person's identifier; the value is replaced by a keyed hash. A key whose words
 * are exactly these words (`session.id`, `sessionId`) is hashed even when its letters run
 * together into a secret key (`sessionid`).
 */
export const DEFAULT_HASH_KEYS = 'user_id user username user_name email e_mail email_address mail ip ip_address client_ip remote_addr remote_ip client_address enduser_id phone phone_number customer_id account_id device_id session_id'.split(' ')

// words that make a key secret wherever they stand in it (password_hint, secret_arn)
const ALWAYS = ['password', 'passwd', 'passphrase', 'secret']

export const KEY_SCAN = 0, KEY_DENY = 1, KEY_HASH = 2, KEY_ALLOW = 3

/** `user.authToken` → `["user", "auth", "token"]`. */
export const keyWords = (k: string): string[] =>
  k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/([A-Z]+)([A-Z][a-z])/g, '$1_$2').toLowerCase().match(/[a-z0-9]+/g) || []

// a key list as names without separators ("xapikey") or as words ("x api key")
const names = (keys: string[], sep = ''): Set<string> => new Set(keys.map((k) => keyWords(k).join(sep)).filter(Boolean))
const endsWith = (w: string[], n: Set<string>, sep = ''): boolean => w.some((_, i) => n.has(w.slice(i).join(sep)))

/** A function deciding KEY_DENY, KEY_HASH, KEY_ALLOW or KEY_SCAN for a key (the engine remembers the answers for clean keys). */
export const keyRules = (secret: string[], hash: string[], allow: string[], deny: string[]): ((key: string) => number) => {
  const s = names(secret), h = names(hash), a = names(allow), d = names(deny), sw = names(secret, ' '), hw = names(hash, ' ')
  const always = ALWAYS.filter((w) => s.has(w))
  return (key) => {
    const w = keyWords(key), whole = w.join('')
    return d.has(whole) ? KEY_DENY : a.has(whole) ? KEY_ALLOW
      : w.some((x) => always.includes(x)) || endsWith(w, sw, ' ') ? KEY_DENY
      // word for word an identifier (session.id) beats letters that run into a secret (sessionid)
      : endsWith(w, hw, ' ') ? KEY_HASH : endsWith(w, s) ? KEY_DENY : endsWith(w, h) ? KEY_HASH : KEY_SCAN
  }
}
