/** Keyed hashing: HMAC-SHA256 with WebCrypto (crypto.subtle in browsers, node:crypto's in Node 18). */
import { nodeModule } from '../consent'

const g: any = globalThis

/**
 * A hasher for one key: value → the first 128 bits of HMAC-SHA256(key, UTF-8 of value) as 32 hex
 * digits, the same digits Python's engine writes. Lone surrogates are encoded as U+FFFD (what
 * TextEncoder does). Rejects where no WebCrypto exists (an http:// page has no crypto.subtle).
 */
export const hmacHex = (key: Uint8Array): ((value: string) => Promise<string>) => {
  let k: Promise<any[]> | undefined
  return async (value) => {
    const [s, c] = await (k = k || (async () => {
      const s = (g.crypto && g.crypto.subtle) || (__NODE__ && (await nodeModule('crypto')).webcrypto.subtle)
      return [s, await s.importKey('raw', key, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])]
    })())
    const b = new Uint8Array(await s.sign('HMAC', c, new TextEncoder().encode(value)))
    return Array.from(b.subarray(0, 16), (x) => (x + 256).toString(16).slice(1)).join('')
  }
}
