/**
 * What the ledger asked of PostgreSQL during a phase, from PostgreSQL's own statistics: transactions committed in
 * the database (`pg_stat_database`; a statement outside a transaction counts as one) and, for the benchmark's schema
 * alone, rows inserted and updated and index and sequential scans (`pg_stat_user_tables`). Read before and after a
 * phase; each backend flushes its counts when it goes idle or exits, and the phase's worker closed its pool.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Client } from 'pg';

/** Counters at one moment. */
interface Counters {
  transactions: number;
  inserted: number;
  updated: number;
  indexScans: number;
  seqScans: number;
}

/** A phase's counts divided by its payments (warm-up included: the worker served those too). */
export interface LedgerStatsPerPayment {
  payments: number;
  transactions: number;
  rows_inserted: number;
  rows_updated: number;
  index_scans: number;
  seq_scans: number;
  source: string;
}

/** How long backends are given to flush their counts (PostgreSQL flushes at most once a second per backend). */
const FLUSH_WAIT_MS = 1_500;

async function read(databaseUrl: string, schema: string): Promise<Counters> {
  const pg = new Client({ connectionString: databaseUrl });
  await pg.connect();
  try {
    await pg.query('SELECT pg_stat_clear_snapshot()');
    const database = await pg.query<{ xact_commit: string }>(
      'SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()',
    );
    const tables = await pg.query<{ ins: string; upd: string; idx: string; seq: string }>(
      `SELECT coalesce(sum(n_tup_ins), 0) AS ins, coalesce(sum(n_tup_upd), 0) AS upd,
              coalesce(sum(idx_scan), 0) AS idx, coalesce(sum(seq_scan), 0) AS seq
       FROM pg_stat_user_tables WHERE schemaname = $1`,
      [schema],
    );
    const row = tables.rows[0];
    return {
      transactions: Number(database.rows[0]?.xact_commit ?? 0),
      inserted: Number(row?.ins ?? 0),
      updated: Number(row?.upd ?? 0),
      indexScans: Number(row?.idx ?? 0),
      seqScans: Number(row?.seq ?? 0),
    };
  } finally {
    await pg.end();
  }
}

/** Counts what `phase` makes PostgreSQL do in `schema`, per payment. */
export async function withLedgerStats<T>(
  databaseUrl: string,
  schema: string,
  phase: () => Promise<T>,
  paymentsOf: (result: T) => number,
): Promise<{ result: T; stats: LedgerStatsPerPayment }> {
  const before = await read(databaseUrl, schema);
  const result = await phase();
  await sleep(FLUSH_WAIT_MS);
  const after = await read(databaseUrl, schema);
  const payments = paymentsOf(result);
  const per = (a: number, b: number) => (payments === 0 ? 0 : Math.round(((a - b) / payments) * 10) / 10);
  return {
    result,
    stats: {
      payments,
      transactions: per(after.transactions, before.transactions),
      rows_inserted: per(after.inserted, before.inserted),
      rows_updated: per(after.updated, before.updated),
      index_scans: per(after.indexScans, before.indexScans),
      seq_scans: per(after.seqScans, before.seqScans),
      source:
        'pg_stat_database.xact_commit (the whole database) and pg_stat_user_tables (the bench schema), ' +
        'differences over the phase divided by its payments, warm-up included',
    },
  };
}
