/**
 * Serves an embedded (PGlite) ledger to other processes over the PostgreSQL wire protocol, so a CLI can read the
 * books the worker keeps in memory or in its data directory.
 */
import type { ExecProtocolOptionsStream, PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import { PgliteDatabase } from '../../services/db/db';
import type { Ledger } from '../../services/ledger/ledger';

/** Where {@link serveEmbeddedLedger} listens; the host must be a loopback address. */
export interface ServeEmbeddedLedgerOptions {
  host: string;
  /** 0 picks a free port. */
  port: number;
}

/** A running wire server over an embedded ledger. */
export interface ServedLedger {
  /** A URL for `Ledger.open({ databaseUrl: url, poolSize: 1 })` in another process. */
  readonly url: string;
  /** Stops listening, ends the client's session, and gives the database back to this process alone. */
  close(): Promise<void>;
}

const served = new WeakSet<PgliteDatabase>();

/**
 * Exposes the ledger's PGlite instance as a PostgreSQL server on loopback. One client connection at a time; it
 * shares PGlite's single session with this process, which waits while the client is in the middle of a statement
 * or a transaction (and the client waits for this process likewise). Clients must not change session state such
 * as search_path, and should keep transactions short. Throws when the ledger is on PostgreSQL.
 */
export async function serveEmbeddedLedger(
  ledger: Ledger,
  options: ServeEmbeddedLedgerOptions,
): Promise<ServedLedger> {
  const database = ledger.database;
  if (!(database instanceof PgliteDatabase)) {
    throw new Error(
      'serveEmbeddedLedger needs a ledger on embedded PGlite; this ledger is on PostgreSQL, which other processes reach through DATABASE_URL',
    );
  }
  if (!isLoopback(options.host)) {
    throw new Error(
      `the embedded ledger has no authentication, so it is served on loopback only, not on ${options.host}`,
    );
  }
  if (served.has(database)) throw new Error('this ledger is already being served');

  const session = new SharedSession(database);
  const server = new PGLiteSocketServer({
    db: session.pglite,
    host: options.host,
    port: options.port,
    // One client: the socket server interleaves the messages of concurrent clients, which would mix their
    // extended-protocol sequences in PGlite's one session.
    maxConnections: 1,
  });
  session.isClientConnected = () => server.getStats().activeConnections > 0;
  await server.start();
  served.add(database);

  const conn = server.getServerConn();
  const port = Number(conn.slice(conn.lastIndexOf(':') + 1));
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  let closing: Promise<void> | undefined;
  return {
    url: `postgres://postgres@${host}:${port}/postgres?sslmode=disable`,
    close() {
      closing ??= (async () => {
        await server.stop();
        await session.reclaim();
        served.delete(database);
      })();
      return closing;
    },
  };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

/** A Sync message: ends whatever extended-protocol sequence a vanished client left half-sent. */
const SYNC_MESSAGE = Uint8Array.of(0x53, 0, 0, 0, 4);
const TERMINATE = 0x58;
const READY_FOR_QUERY = 0x5a;
const TRANSACTION_IDLE = 0x49;
/** How often to check, while a client holds the session mid-sequence, whether it disconnected. */
const ABANDONED_CHECK_MS = 100;

/**
 * Shares the ledger's PGlite session with the socket server through the ledger's {@link PgliteDatabase.gate}.
 * The socket server sees a proxy of the PGlite instance: each protocol message first takes the gate, and the gate
 * is handed back only when PGlite answers ReadyForQuery with an idle transaction status, so this process never runs
 * a statement inside the client's Parse/Bind/Execute/Sync sequence or its open transaction.
 */
class SharedSession {
  /** The PGlite instance as the socket server must see it. */
  readonly pglite: PGlite;
  /** Whether a client is connected; set once the server exists. */
  isClientConnected: () => boolean = () => true;
  private inflight = 0;
  /** Whether the client's last message completed a cycle and left no transaction open. */
  private idle = true;
  private entering: Promise<void> | undefined;
  private reclaiming: Promise<void> | undefined;
  private drainWaiters: (() => void)[] = [];
  private abandonedCheck: NodeJS.Timeout | undefined;

  constructor(private readonly database: PgliteDatabase) {
    const real = database.pglite;
    this.pglite = new Proxy(real, {
      get: (target, property) => {
        switch (property) {
          case 'runExclusive':
            return <T>(fn: () => Promise<T>) => this.run(() => target.runExclusive(fn));
          case 'execProtocolRawStream':
            return (message: Uint8Array, streamOptions: ExecProtocolOptionsStream) =>
              this.runMessage(message, streamOptions);
          case 'exec':
            // The socket server's only direct statement: ROLLBACK of a disconnected client's open transaction.
            return (sql: string) =>
              this.run(async () => {
                const results = await target.exec(sql);
                this.idle = !target.isInTransaction();
                return results;
              });
          case 'isInTransaction':
            // While this process holds the session, its own transaction is none of the client's business.
            return () => this.holdsSession() && target.isInTransaction();
          default: {
            const value: unknown = Reflect.get(target, property, target);
            return typeof value === 'function'
              ? (value as (...args: unknown[]) => unknown).bind(target)
              : value;
          }
        }
      },
    });
  }

  /** Once the server has stopped: ends what the last client left open and gives the session back. */
  async reclaim(): Promise<void> {
    this.reclaiming ??= this.reclaimOnce().finally(() => {
      this.reclaiming = undefined;
    });
    return this.reclaiming;
  }

  private holdsSession(): boolean {
    return this.database.gate.heldBy === 'wire';
  }

  private async run<T>(fn: () => Promise<T>): Promise<T> {
    while (this.reclaiming) await this.reclaiming.catch(() => undefined);
    // Counted before the first await, so a reclaim that starts now waits for this call.
    this.inflight += 1;
    this.stopAbandonedCheck();
    try {
      await this.enter();
      return await fn();
    } finally {
      this.inflight -= 1;
      this.settle();
    }
  }

  private runMessage(message: Uint8Array, streamOptions: ExecProtocolOptionsStream): Promise<void> {
    return this.run(async () => {
      let tail: Uint8Array = new Uint8Array(0);
      await this.database.pglite.execProtocolRawStream(message, {
        ...streamOptions,
        onRawData: (data) => {
          tail = lastBytes(tail, data, 6);
          streamOptions.onRawData(data);
        },
      });
      if (message[0] !== TERMINATE) this.idle = readyForQueryStatus(tail) === TRANSACTION_IDLE;
    });
  }

  private enter(): Promise<void> {
    if (this.holdsSession()) return Promise.resolve();
    this.entering ??= this.database.gate.acquire('wire').then(() => {
      this.entering = undefined;
    });
    return this.entering;
  }

  private settle(): void {
    if (this.inflight > 0) return;
    if (this.holdsSession()) {
      if (this.idle && !this.database.pglite.isInTransaction()) {
        this.database.gate.release();
      } else if (!this.reclaiming) {
        this.startAbandonedCheck();
      }
    }
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const wake of waiters) wake();
  }

  private startAbandonedCheck(): void {
    this.stopAbandonedCheck();
    this.abandonedCheck = setInterval(() => {
      if (this.inflight === 0 && this.holdsSession() && !this.isClientConnected()) void this.reclaim();
    }, ABANDONED_CHECK_MS);
    this.abandonedCheck.unref();
  }

  private stopAbandonedCheck(): void {
    if (this.abandonedCheck) clearInterval(this.abandonedCheck);
    this.abandonedCheck = undefined;
  }

  private async reclaimOnce(): Promise<void> {
    this.stopAbandonedCheck();
    while (this.inflight > 0) await new Promise<void>((wake) => this.drainWaiters.push(wake));
    if (!this.holdsSession()) return;
    const real = this.database.pglite;
    try {
      await real.execProtocolRaw(SYNC_MESSAGE);
      if (real.isInTransaction()) await real.exec('ROLLBACK');
    } finally {
      this.idle = true;
      this.database.gate.release();
    }
  }
}

/** The last `count` bytes of `previous` followed by `next`. */
function lastBytes(previous: Uint8Array, next: Uint8Array, count: number): Uint8Array {
  if (next.length >= count) return next.slice(next.length - count);
  const joined = new Uint8Array(previous.length + next.length);
  joined.set(previous);
  joined.set(next, previous.length);
  return joined.slice(Math.max(0, joined.length - count));
}

/** The transaction status byte when `tail` is a complete ReadyForQuery message ('Z', length 5, status). */
function readyForQueryStatus(tail: Uint8Array): number | undefined {
  const isReady =
    tail.length === 6 &&
    tail[0] === READY_FOR_QUERY &&
    tail[1] === 0 &&
    tail[2] === 0 &&
    tail[3] === 0 &&
    tail[4] === 5;
  return isReady ? tail[5] : undefined;
}
