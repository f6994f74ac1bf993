/** astrid-telemetry: the public surface (the client, the module-level default client, backends' helpers). */
import { NOOP, TelemetryClient, type Span } from './client'
import type { Options } from './config'

export { TelemetryClient, type Span } from './client'
export { DEFAULTS, type Backend, type Batch, type Options } from './config'
export { ExportResult } from './resilience'
export { registerBackend } from './backends/index'
export { memoryBackend, type MemoryBackend } from './backends/local'
export { SDK_VERSION as version, type TelemetryRecord } from './records'
export { createPrivacyEngine, DEFAULT_HASH_KEYS, DEFAULT_SECRET_KEYS, DETECTOR_KINDS, type PrivacyEngine, type PrivacyOptions } from './privacy/index'

let client: TelemetryClient | undefined

/** Create the default client (shutting down a previous one) and return it. Throws for bad options. */
export const init = (options: Options): TelemetryClient => {
  const old = client
  client = new TelemetryClient(options)
  if (old) old.shutdown(0.5)
  return client
}
/** The default client created by init(), or undefined. */
export const getClient = (): TelemetryClient | undefined => client

export const trackEvent = (name: string, attributes?: Record<string, unknown>): void => client && client.trackEvent(name, attributes)
export const trackMetric = (name: string, value?: number, options?: { metricType?: string; unit?: string; attributes?: Record<string, unknown> }): void =>
  client && client.trackMetric(name, value, options)
export const trackLog = (message: string, options?: { level?: string | number; attributes?: Record<string, unknown> }): void => client && client.trackLog(message, options)
export const trackError = (error: unknown, attributes?: Record<string, unknown>): void => client && client.trackError(error, attributes)
/** A span of the default client; before init a span that records nothing (never undefined, never throws). */
export const startSpan = (name: string, attributes?: Record<string, unknown>): Span => (client ? client.startSpan(name, attributes) : NOOP)
/** Time `fn` as a span of the default client (just calls `fn` before init). */
export function span<T>(name: string, attributes: Record<string, unknown> | ((s: Span) => T) | undefined, fn?: (s: Span) => T): T {
  if (client) return client.span(name, attributes, fn)
  const f = (typeof attributes === 'function' ? attributes : fn) as (s: Span) => T
  return f(NOOP)
}
export const flush = (timeout?: number): Promise<boolean> => (client ? client.flush(timeout) : Promise.resolve(true))
export const shutdown = (timeout?: number): Promise<boolean> => (client ? client.shutdown(timeout) : Promise.resolve(true))
export const optIn = (): boolean => !!client && client.optIn()
export const optOut = (): boolean => !!client && client.optOut()
export const stats = (): Record<string, any> => (client ? client.stats() : {})

// The browser features (tree-shaken away by bundlers when unused: an app without autocapture pays nothing).
export { autocapture, browser, type AutocaptureOptions } from './browser/autocapture'
// one feature each, for browser(options, client, [pageViews, scrollDepth]): only what is listed is bundled
export { elementClicks as clicks, fileDownloads, outboundLinks } from './browser/clicks'
export { forms } from './browser/forms'
export { scrollDepth } from './browser/scroll'
export { engagement } from './browser/engagement'
export { pageLeave } from './browser/leave'
export { pageViews } from './browser/pageviews'
