/** Is telemetry on? The opt-in rules (docs/configuration.md, "Switches an end user sets"), the Node consent file shared with the Python CLI, browser signals. */
import { parseBool, projectSwitch } from './config'

/** enabled: true/false, or null while the browser's user has not chosen yet (pending). */
export interface Decision {
  enabled: boolean | null
  rule: string
}
type Env = Record<string, string | undefined>

const CI_VARS = /* @__PURE__ */ 'CONTINUOUS_INTEGRATION BUILD_NUMBER RUN_ID GITHUB_ACTIONS GITLAB_CI CIRCLECI TRAVIS BUILDKITE TF_BUILD JENKINS_URL TEAMCITY_VERSION BITBUCKET_BUILD_NUMBER CODEBUILD_BUILD_ID DRONE APPVEYOR'.split(' ')

/** A build machine: CI set to anything but false/0 (or empty), or a known CI system's variable. */
export const isCI = (env: Env): boolean => {
  const ci = env.CI
  if (ci != null) return parseBool(ci) !== false && ci.trim() !== ''
  return CI_VARS.some((v) => !!env[v])
}

const d = (enabled: boolean | null, rule: string): Decision => ({ enabled, rule })

/**
 * The rules in order; the first that speaks decides. `stored` is the stored choice (consent file
 * in Node, localStorage in browsers), read by the caller. `browser` carries the navigator signals.
 */
export const decide = (
  { projectName: project, enabled, env }: { projectName: string; enabled?: boolean; env: Env },
  stored?: boolean,
  browser?: { dnt?: boolean; gpc?: boolean },
): Decision => {
  // Node's rules in a block the browser builds drop whole (__NODE__ is false there)
  if (__NODE__ && !browser) {
    if (parseBool(env.DO_NOT_TRACK)) return d(false, 'DO_NOT_TRACK')
    if ((env.OTEL_SDK_DISABLED || '').trim().toLowerCase() === 'true') return d(false, 'OTEL_SDK_DISABLED')
    if (enabled != null) return d(enabled, 'argument')
    for (const v of [projectSwitch(project), 'ASTRID_TELEMETRY']) {
      const b = parseBool(env[v])
      if (b != null) return d(b, v)
    }
    if (isCI(env)) return d(false, 'ci')
    return stored != null ? d(stored, 'stored_consent') : d(false, 'default')
  }
  browser = browser || {}
  if (browser.dnt) return d(false, 'do_not_track')
  if (browser.gpc) return d(false, 'global_privacy_control')
  if (enabled != null) return d(enabled, 'argument')
  return stored != null ? d(stored, 'stored_consent') : d(null, 'pending')
}

const g: any = globalThis
/** Browser privacy signals: Do Not Track ("1") and Global Privacy Control. */
export const browserSignals = (): { dnt: boolean; gpc: boolean } | undefined => {
  const n = g.navigator
  if (typeof g.document !== 'object' || !n) return undefined
  // (IE's navigator.msDoNotTrack is not read: no browser that runs this ES2019 bundle has it)
  return { dnt: n.doNotTrack === '1' || g.doNotTrack === '1', gpc: n.globalPrivacyControl === true }
}

/** The browser's remembered choice (localStorage `astrid.consent.<project>`): stores `granted` when given, returns what is stored. */
export const storedChoice = (project: string, granted?: boolean): boolean | undefined => {
  try {
    const ls = g.localStorage
    const k = 'astrid.consent.' + project
    if (granted != null) ls.setItem(k, granted ? 'granted' : 'denied')
    const v = ls.getItem(k)
    return v === 'granted' ? true : v === 'denied' ? false : undefined
  } catch {}
}

// ------------------------------------------------------------------ Node: the Python CLI's consent file

/** A Node built-in module (sync where the runtime offers it, else by dynamic import). */
export const nodeModule = async (name: string): Promise<any> => {
  const p = g.process
  if (p && p.getBuiltinModule) return p.getBuiltinModule('node:' + name)
  const spec = 'node:' + name
  return import(/* webpackIgnore: true */ spec)
}

/** `$XDG_CONFIG_HOME/astrid/consent/<slug>.json` (default `~/.config/astrid/...`), as Python's ConsentStore. */
export const consentPath = (project: string, env: Env, path: any, os: any): string => {
  let base = env.XDG_CONFIG_HOME || ''
  if (!base || !path.isAbsolute(base)) base = path.join(env.HOME || env.USERPROFILE || os.homedir(), '.config')
  const slug = project.trim().replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+|\.+$/g, '') || '_'
  return path.join(base, 'astrid', 'consent', slug.slice(0, 100) + '.json')
}

/** The stored choice for `project`, undefined when there is none (never throws). */
export const readConsentFile = async (project: string, env: Env): Promise<boolean | undefined> => {
  try {
    const [fs, path, os] = await Promise.all([nodeModule('fs'), nodeModule('path'), nodeModule('os')])
    const data = JSON.parse(await fs.promises.readFile(consentPath(project, env, path, os), 'utf8'))
    const v = data && data.granted
    return typeof v === 'boolean' ? v : undefined
  } catch {}
}

/** Store the choice as the Python CLI does: owner-only file, written atomically. Never throws. */
export const writeConsentFile = async (project: string, granted: boolean, env: Env): Promise<void> => {
  try {
    const [fs, path, os] = await Promise.all([nodeModule('fs'), nodeModule('path'), nodeModule('os')])
    const target = consentPath(project, env, path, os)
    const dir = path.dirname(target)
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 })
    const tmp = path.join(dir, '.tmp-' + Math.random().toString(36).slice(2))
    const rec = { project, granted, updated: Math.floor(Date.now() / 1000) }
    await fs.promises.writeFile(tmp, JSON.stringify(rec, null, 2) + '\n', { mode: 0o600 })
    await fs.promises.rename(tmp, target)
  } catch {}
}
