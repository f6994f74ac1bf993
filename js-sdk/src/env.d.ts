/** true in the Node builds (astrid.mjs, astrid.cjs), false in the browser builds; set by the build. */
declare const __NODE__: boolean
/** Node builds only: CommonJS's require (astrid.mjs creates one with node:module's createRequire). */
declare const require: (id: string) => any
