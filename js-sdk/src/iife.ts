/** The script-tag bundle (window.Astrid): the core, every browser feature, and set-up from data-* attributes. */
import { fromScript } from './browser/loader'

export * from './index'
export { FEATURES } from './browser/autocapture'

fromScript()
