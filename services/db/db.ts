/**
 * The ledger's small SQL seam: one interface, two implementations (PostgreSQL through a node-postgres pool, and
 * embedded PGlite), so every query above it is written once and runs unchanged on both.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PGlite, types as pgliteTypes } from '@electric-sql/pglite';
import { inSqlSpan } from '../telemetry/tracing';
import { Pool } from 'pg';
import type { PoolClient } from 'pg';

/** One result row as the driver returns it; callers validate it before use. */
export type SqlRow = Record<string, unknown>;

/** Runs one statement with `$1`-style parameters and returns its rows. */
export interface SqlExecutor {
  query(text: string, params?: readonly unknown[]): Promise<SqlRow[]>;
  /** Runs a script of one or more statements without parameters (migrations). */
  exec(script: string): Promise<void>;
}

/** A database the ledger can run on: plain queries, transactions, and a close. */
export interface SqlDatabase extends SqlExecutor {
  /** Which engine is underneath: a PostgreSQL server, or PGlite inside this process. */
  readonly engine: 'postgres' | 'pglite';
  /** Runs `fn` in one transaction: committed when it resolves, rolled back when it throws. */
  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

/** Where the ledger's data lives; see {@link openDatabase}. */
export interface DatabaseOptions {
  /** A PostgreSQL connection URL; when set, PostgreSQL is used. */
  databaseUrl?: string;
  /** A directory for embedded PGlite files; when neither this nor `databaseUrl` is set, PGlite runs in memory. */
  dataDir?: string;
  /** A schema to create if missing and to put first on every connection's search_path. */
  schema?: string;
  /** The most PostgreSQL connections to hold at once (default 10). */
  poolSize?: number;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/** Opens PostgreSQL when `databaseUrl` is given, otherwise PGlite (in `dataDir`, or in memory). */
export async function openDatabase(options: DatabaseOptions): Promise<SqlDatabase> {
  if (options.schema !== undefined && !SCHEMA_NAME.test(options.schema)) {
    throw new Error(`schema "${options.schema}" must be lower-case letters, digits and underscores`);
  }
  if (options.databaseUrl) return PostgresDatabase.open(options.databaseUrl, options);
  return PgliteDatabase.open(options);
}

/** The SQLSTATE of a database error from either driver, if it carries one. */
export function sqlErrorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  return typeof error.code === 'string' ? error.code : undefined;
}

/** The constraint a database error names, if any. */
export function sqlErrorConstraint(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('constraint' in error)) return undefined;
  return typeof error.constraint === 'string' ? error.constraint : undefined;
}

function quoteIdentifier(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** SQLSTATEs of a concurrent CREATE SCHEMA IF NOT EXISTS that lost the race. */
const SCHEMA_RACE_CODES = new Set(['23505', '42P06']);

/** PostgreSQL through a node-postgres pool; every pooled connection gets the schema on its search_path. */
export class PostgresDatabase implements SqlDatabase {
  readonly engine = 'postgres';
  private readonly prepared = new WeakSet<PoolClient>();

  private constructor(
    private readonly pool: Pool,
    private readonly searchPath: string | undefined,
  ) {}

  /** Connects a pool to `databaseUrl`, creating `options.schema` when it is missing. */
  static async open(databaseUrl: string, options: DatabaseOptions): Promise<PostgresDatabase> {
    const pool = new Pool({ connectionString: databaseUrl, max: options.poolSize ?? 10 });
    // An idle pooled connection that dies is dropped by the pool; without a listener node would crash on it.
    pool.on('error', () => undefined);
    // So would one that dies while checked out between two statements (inside a transaction): the pool listens only
    // to idle ones. The statement that next uses it fails, and the connection is discarded on release.
    pool.on('connect', (client) => client.on('error', () => undefined));
    const database = new PostgresDatabase(pool, options.schema && quoteIdentifier(options.schema));
    try {
      if (options.schema) {
        try {
          await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(options.schema)}`);
        } catch (error) {
          if (!SCHEMA_RACE_CODES.has(sqlErrorCode(error) ?? '')) throw error;
        }
      }
      return database;
    } catch (error) {
      await pool.end();
      throw error;
    }
  }

  async query(text: string, params: readonly unknown[] = []): Promise<SqlRow[]> {
    const client = await this.checkout();
    try {
      const result = await client.query<SqlRow>(text, [...params]);
      client.release();
      return result.rows;
    } catch (error) {
      client.release(isConnectionError(error) ? asError(error) : undefined);
      throw error;
    }
  }

  async exec(script: string): Promise<void> {
    await this.transaction((tx) => tx.exec(script));
  }

  async transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    const client = await this.checkout();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const result = await fn({
        query: async (text, params = []) => (await client.query<SqlRow>(text, [...params])).rows,
        exec: async (script) => {
          await client.query(script);
        },
      });
      await client.query('COMMIT');
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = asError(rollbackError);
      }
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async checkout(): Promise<PoolClient> {
    const client = await this.pool.connect();
    if (this.searchPath === undefined || this.prepared.has(client)) return client;
    try {
      await client.query(`SET search_path TO ${this.searchPath}`);
    } catch (error) {
      client.release(asError(error));
      throw error;
    }
    this.prepared.add(client);
    return client;
  }
}

function asError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

/**
 * A failure that leaves the connection unusable: no SQLSTATE (socket closed, protocol error), class 08 (connection
 * exception) or 57P (the server terminated the session: admin or crash shutdown, `pg_terminate_backend`).
 */
function isConnectionError(error: unknown): boolean {
  const code = sqlErrorCode(error);
  return code === undefined || code.startsWith('08') || code.startsWith('57P');
}

/** Who holds the single PGlite session: code in this process, or a client over the wire. */
export type SessionHolder = 'local' | 'wire';

/**
 * A first-come-first-served lock over PGlite's one session. PGlite's own mutexes serialise single protocol
 * messages, which is not enough once a wire client shares the session: its Parse/Bind/Execute/Sync sequence or its
 * open transaction must not have this process's statements run in the middle of it, and the other way round.
 */
export class SessionGate {
  private holder: SessionHolder | undefined;
  private readonly waiting: { who: SessionHolder; grant: () => void }[] = [];

  /** Who holds the session now, if anyone. */
  get heldBy(): SessionHolder | undefined {
    return this.holder;
  }

  /** Resolves once `who` holds the session; every acquire must be paired with one release. */
  acquire(who: SessionHolder): Promise<void> {
    if (this.holder === undefined) {
      this.holder = who;
      return Promise.resolve();
    }
    return new Promise((grant) => this.waiting.push({ who, grant }));
  }

  /** Hands the session to the next waiter, or frees it. */
  release(): void {
    const next = this.waiting.shift();
    this.holder = next?.who;
    next?.grant();
  }

  /** Runs `fn` while this process holds the session. */
  async runLocal<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire('local');
    try {
      return await fn();
    } finally {
      this.release();
    }
  }
}

/** Embedded PGlite: one session in this process, in a data directory or in memory. */
export class PgliteDatabase implements SqlDatabase {
  readonly engine = 'pglite';
  /** Every use of {@link pglite} from outside this class must hold this gate. */
  readonly gate = new SessionGate();

  private constructor(
    /** The PGlite instance; see {@link gate}. */
    readonly pglite: PGlite,
  ) {}

  /** Starts PGlite (creating the data directory's cluster on first use) and applies `options.schema`. */
  static async open(options: DatabaseOptions): Promise<PgliteDatabase> {
    // PGlite creates the data directory itself, but not its parents (`.data/` on a fresh clone).
    if (options.dataDir) await mkdir(path.dirname(path.resolve(options.dataDir)), { recursive: true });
    const pglite = await PGlite.create({
      ...(options.dataDir ? { dataDir: options.dataDir } : {}),
      // BIGINT and NUMERIC stay text, as node-postgres returns them, so no amount is silently rounded.
      parsers: { [pgliteTypes.INT8]: (text: string) => text, [pgliteTypes.NUMERIC]: (text: string) => text },
    });
    const database = new PgliteDatabase(pglite);
    try {
      if (options.schema) {
        const schema = quoteIdentifier(options.schema);
        await pglite.exec(`CREATE SCHEMA IF NOT EXISTS ${schema}; SET search_path TO ${schema}`);
      }
      return database;
    } catch (error) {
      await pglite.close();
      throw error;
    }
  }

  query(text: string, params: readonly unknown[] = []): Promise<SqlRow[]> {
    return this.gate.runLocal(() =>
      inSqlSpan(text, async () => (await this.pglite.query<SqlRow>(text, [...params])).rows),
    );
  }

  exec(script: string): Promise<void> {
    return this.gate.runLocal(async () => {
      await this.pglite.exec(script);
    });
  }

  transaction<T>(fn: (tx: SqlExecutor) => Promise<T>): Promise<T> {
    return this.gate.runLocal(() =>
      this.pglite.transaction((tx) =>
        fn({
          query: (text, params = []) =>
            inSqlSpan(text, async () => (await tx.query<SqlRow>(text, [...params])).rows),
          exec: async (script) => {
            await tx.exec(script);
          },
        }),
      ),
    );
  }

  async close(): Promise<void> {
    await this.gate.runLocal(async () => {
      if (!this.pglite.closed) await this.pglite.close();
    });
  }
}
