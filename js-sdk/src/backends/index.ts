/** The backend registry: a name, a backend object or a list of them → backend objects. */
import type { Backend, Config } from '../config'
import { clickhouse } from './clickhouse'
import { consoleBackend, memoryBackend } from './local'
import { otlp } from './otlp'
import { http } from './http'

const registry: Record<string, (cfg: Config) => Backend> = { otlp, http, console: consoleBackend, memory: memoryBackend }
if (__NODE__) registry.clickhouse = clickhouse

/** Make `backend: name` create backends with `factory(config)`. */
export const registerBackend = (name: string, factory: (cfg: Config) => Backend): void => {
  if (typeof name !== 'string' || !name || typeof factory !== 'function') throw new TypeError('registerBackend needs a non-empty name and a factory function')
  registry[name] = factory
}

/** Check the backend option, throwing a TypeError the user can act on. */
export const checkBackends = (spec: unknown): (string | Backend)[] => {
  const items = Array.isArray(spec) ? spec : [spec]
  if (!items.length) throw new TypeError('backend is an empty list')
  for (const b of items)
    if (typeof b === 'string' ? !registry[b] : !b || typeof b.export !== 'function')
      throw new TypeError(`backend must be one of ${Object.keys(registry).join(', ')} or an object with export(); got ${typeof b === 'string' ? b : typeof b}`)
  return items
}

export const createBackends = (cfg: Config): Backend[] => checkBackends(cfg.backend).map((b) => (typeof b === 'string' ? registry[b](cfg) : b))
