/** true in the Node builds (astrid.mjs, astrid.cjs), false in the browser builds; set by the build. */
declare const __NODE__: boolean
