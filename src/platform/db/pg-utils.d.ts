// pg's own value conversion (pg/lib/utils.js, exported by the package), which @types/pg does not describe.
declare module 'pg/lib/utils.js' {
  const utils: {
    /** A query value as pg sends it: text, a Buffer, or null. */
    prepareValue(value: unknown): string | Buffer | null;
  };
  export default utils;
}
