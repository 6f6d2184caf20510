/**
 * The SQLite driver on Deno: the Node adapter as is. libsql's N-API addon loads under Deno's npm support, and the
 * adapter's file calls (mkdirSync, openSync, chmodSync, closeSync from node:fs) are all implemented by Deno.
 * @module
 */
export { SQLiteDriver, type SQLiteDriverOptions } from "../node/sqlite_driver.ts";
