/** baton's database: one connection (PostgreSQL, or embedded PGlite on one machine) and its migrations. */
export { openDatabase } from './db';
export type { DatabaseOptions, SqlDatabase, SqlExecutor, SqlRow } from './db';
export { MIGRATIONS, migrate } from './migrations';
export type { Migration } from './migrations';
