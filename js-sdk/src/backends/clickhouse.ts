/** ClickHouse backend (Node only): JSONEachRow over HTTP. */
import type { Config } from '../config'

export const clickhouse = (_cfg: Config): any => {
  throw new TypeError('the clickhouse backend is not built yet')
}
