/** Browser globals that are safe to touch during server-side rendering, and storage that never throws. */

export const g: any = globalThis
export const win: any = typeof window !== 'undefined' ? window : undefined
export const doc: any = win && win.document

/** addEventListener that never throws. */
export const on = (target: any, type: string, fn: (e: any) => void, opts: any = true): void => {
  try {
    target.addEventListener(type, fn, opts)
  } catch {}
}

/** Run `fn` and swallow anything it throws: autocapture must never break the host page. */
export const safe =
  <A extends any[]>(fn: (...a: A) => void) =>
  (...a: A): void => {
    try {
      fn(...a)
    } catch {}
  }

/** localStorage / sessionStorage that never throws (private mode, quota, disabled storage). */
export const store = (kind: 'localStorage' | 'sessionStorage') => ({
  get(k: string): any {
    try {
      const v = g[kind].getItem(k)
      return v == null ? null : JSON.parse(v)
    } catch {
      return null
    }
  },
  set(k: string, v: any): boolean {
    try {
      g[kind].setItem(k, JSON.stringify(v))
      return true
    } catch {
      return false
    }
  },
  del(k: string): void {
    try {
      g[kind].removeItem(k)
    } catch {}
  },
})

export const local = store('localStorage')
export const tab = store('sessionStorage')

