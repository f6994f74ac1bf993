/** `form.submit`: the form's id, name, action path and field count; never a value. */
import type { Ctx } from './context'
import { doc, on } from './env'
import { cleanUrl } from './url'

export const forms = (ctx: Ctx): void =>
  on(
    doc,
    'submit',
    (e: any) => {
      const f = e.target
      if (f.tagName !== 'FORM') return
      const a: Record<string, unknown> = {}
      // getAttribute: a field named "id" or "name" would shadow the form's own properties
      for (const k of ['id', 'name']) if (f.getAttribute(k)) a['form.' + k] = f.getAttribute(k)
      const act = cleanUrl(f.getAttribute('action') || '', doc.baseURI)
      if (act) a['form.action'] = act.path
      let n = 0
      for (const el of f.elements) if (/^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName) && !/^(submit|button|reset|image|hidden)$/.test(el.type)) n++
      a['form.fields'] = n
      ctx.track_('form.submit', a)
    },
  )
