/** The scrubber: the cheap pre-scan, then each detector's gate, pattern and validator in turn (as Python's privacy/scrubber.py). */
import { detectors } from './detectors'

// The pre-scan: every detector's match contains one of these literals or a run of seven
// digit-like characters (or the digits and groups of an IBAN).
const TRIGGER = /@|=|:|-----BEGIN|eyJ|[Bb]earer|BEARER|[Bb]asic|BASIC|AKIA|ASIA|ABIA|ACCA|gh[pousr]_|github_pat_|xox|[sr]k_|AIza|sk-|\/home\/|\/[Uu]sers\/|--|<\/|%40|\p{Nd}(?:[\p{Nd} \t().-]{5,}\p{Nd}|\p{Nd} ?[A-Z0-9]{4} ?[A-Z0-9]{4})/u

/** The cheap pre-scan: false means no detector can match `t`. */
export const mayContainPii = (t: string): boolean => {
  const n = t.length < 12 ? [...t].length : 6
  // nothing this short is worth finding except an IPv6 address such as "::2"
  return n < 6 ? n > 2 && t.includes(':') : TRIGGER.test(t)
}

/** kind, action, value → replacement text (it also counts what it replaces) */
export type Replacer = (kind: string, action: string, value: string) => string

/**
 * A scrubber: it replaces every detected value in a text, pass after pass until nothing changes
 * (at most 4: a value glued to another is only seen once its neighbour is replaced), or until
 * `pending` (the hashes a replacement waits for) is not empty: the caller runs the text again anyway.
 */
export const scrubber = (actions: Record<string, string>, rep: Replacer, pending: Set<string>): ((t: string) => string) => {
  const once = (t: string): string => {
    // gates are read on the text as given: replacing a value only ever removes matches
    const given = t
    detectors().forEach(([kind, gate, re, ok]) => {
      const action = actions[kind]
      if (action == 'off' || !gate.test(given)) return
      let out = ''
      let pos = 0
      let last = 0
      let m: RegExpExecArray | null
      while (pos <= t.length) {
        re.lastIndex = pos
        if (!(m = re.exec(t))) break
        const g = (m as any).indices.groups
        const [a, b] = (g && (g.v || g.v1 || g.v2)) || (m as any).indices[0]
        const end = m.index + m[0].length
        let v = t.slice(a, b)
        if (ok && !ok(v, m, t)) {
          // "+44 20 7946 0958 12" or "DE89...3000 1": the pattern took one group too many and
          // the whole fails its check; a shorter run of the groups may be the real value
          let cut = 0
          // (no other kind's name is part of this string)
          if ('iban phone card'.includes(kind)) while ((cut = v.search(/[ .-][^ .-]*$/)) > 0 && !ok((v = v.slice(0, cut)), m, t));
          if (cut < 1) {
            // a rejected match is searched again one character further on
            pos = m.index + 1
            continue
          }
        }
        out += t.slice(last, a) + rep(kind, action, v) + t.slice(a + v.length, end)
        last = end
        pos = end > m.index ? end : end + 1
      }
      if (last) t = out + t.slice(last)
    })
    return t
  }
  return (t) => {
    for (let i = 0, n; i < 4 && mayContainPii(t) && (n = once(t)) != t; i++) {
      t = n
      if (pending.size) break
    }
    return t
  }
}
