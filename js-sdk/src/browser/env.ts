/** Browser globals that are safe to touch during server-side rendering, and storage that never throws. */

export const g: any = globalThis
export const doc: any = g.document

/** Is the page visible? (else hidden) */
export const visible = (): boolean => doc.visibilityState === 'visible'

/** Run `fn` and swallow anything it throws: autocapture must never break the host page. */
export const safe =
  <A extends any[]>(fn: (...a: A) => void) =>
  (...a: A): void => {
    try {
      fn(...a)
    } catch {}
  }

/** addEventListener that never throws, for a listener that never throws (capture phase unless `opts` says otherwise). */
export const on = (target: any, type: string, fn: (e: any) => void, opts: any = true): void => {
  try {
    target.addEventListener(type, safe(fn), opts)
  } catch {}
}

/**
 * localStorage / sessionStorage that never throws (private mode, quota, disabled storage):
 * `s(k)` reads (null or undefined when absent or unreadable), `s(k, v)` writes (truthy when stored),
 * `s(k, null)` removes.
 */
export const store =
  (kind: string) =>
  (k: string, v?: any): any => {
    try {
      const s = g[kind]
      return v === undefined ? JSON.parse(s.getItem(k)) : v === null ? s.removeItem(k) : (s.setItem(k, JSON.stringify(v)), 1)
    } catch {}
  }

export const local = /* @__PURE__ */ store('localStorage')
export const tab = /* @__PURE__ */ store('sessionStorage')
