/**
 * baton's database schema (ledger, customers, message sends) as ordered, numbered migrations, recorded in `schema_migrations` and applied at most once.
 */
import { z } from 'zod';
import type { SqlDatabase } from './db';

/** One schema change; `version` orders them and never changes once released. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/** Every migration, oldest first. Append new ones; never edit a released one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'accounts, transfers and entries',
    sql: `
      CREATE TABLE accounts (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('customer', 'clearing', 'settlement', 'funding')),
        customer_id TEXT,
        currency    TEXT NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
        balance     BIGINT NOT NULL DEFAULT 0,
        created_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
        -- Backstop for the conditional debit: no write path may leave a customer below zero.
        CONSTRAINT accounts_customer_balance_not_negative CHECK (kind <> 'customer' OR balance >= 0)
      );

      CREATE TABLE transfers (
        seq             BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
        id              TEXT PRIMARY KEY DEFAULT ('tr_' || replace(gen_random_uuid()::text, '-', '')),
        idempotency_key TEXT NOT NULL UNIQUE,
        from_account_id TEXT NOT NULL REFERENCES accounts (id),
        to_account_id   TEXT NOT NULL REFERENCES accounts (id),
        amount_minor    BIGINT NOT NULL CHECK (amount_minor > 0),
        currency        TEXT NOT NULL,
        -- UNIQUE: a transfer is reversed at most once, whatever the callers race.
        reversal_of     TEXT UNIQUE REFERENCES transfers (id),
        created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        CHECK (from_account_id <> to_account_id)
      );

      CREATE TABLE entries (
        id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        transfer_id  TEXT NOT NULL REFERENCES transfers (id),
        account_id   TEXT NOT NULL REFERENCES accounts (id),
        amount_minor BIGINT NOT NULL CHECK (amount_minor <> 0),
        currency     TEXT NOT NULL,
        UNIQUE (transfer_id, account_id)
      );

      CREATE INDEX entries_account_id ON entries (account_id);
      CREATE INDEX transfers_from_account_id ON transfers (from_account_id);
      CREATE INDEX transfers_to_account_id ON transfers (to_account_id);
    `,
  },
  {
    version: 2,
    name: 'customers',
    sql: `
      CREATE TABLE customers (
        id              TEXT PRIMARY KEY,
        -- One customer per registration, whatever the retries.
        registration_id TEXT NOT NULL UNIQUE,
        name            TEXT NOT NULL,
        email           TEXT NOT NULL,
        phone           TEXT,
        channel         TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
        created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
        CHECK (channel <> 'sms' OR phone IS NOT NULL)
      );
      -- An email address belongs to one customer, compared case-insensitively.
      CREATE UNIQUE INDEX customers_email_lower ON customers (lower(email));
    `,
  },
  {
    version: 3,
    name: 'message sends',
    sql: `
      -- Every message baton sends, recorded under its key before the provider is called, so a retry can tell
      -- whether the provider already took it.
      CREATE TABLE message_sends (
        key          TEXT PRIMARY KEY,
        channel      TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
        state        TEXT NOT NULL CHECK (state IN ('pending', 'accepted', 'retryable', 'rejected', 'in_doubt')),
        provider_id  TEXT,
        detail       TEXT,
        attempts     INTEGER NOT NULL DEFAULT 0,
        created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
        updated_at   TIMESTAMPTZ NOT NULL DEFAULT now()
      );
    `,
  },
  {
    version: 4,
    name: 'closed accounts',
    sql: `
      -- A closed account takes no new transfers in or out; reversals of earlier transfers still land.
      ALTER TABLE accounts ADD COLUMN closed_at TIMESTAMPTZ;
    `,
  },
  {
    version: 5,
    name: 'balances within exact integer range',
    sql: `
      -- Balances are read back as JavaScript numbers; one past 2^53 - 1 would no longer be read exactly, so the
      -- transfer that would leave one there is refused instead.
      ALTER TABLE accounts ADD CONSTRAINT accounts_balance_exact
        CHECK (balance BETWEEN -9007199254740991 AND 9007199254740991);
    `,
  },
  {
    version: 6,
    name: 'transfer correlation ids',
    sql: `
      -- The business process a transfer belongs to, chosen by whoever started it; null for transfers made outside
      -- one (and for every transfer booked before processes carried an id).
      ALTER TABLE transfers ADD COLUMN correlation_id TEXT;
    `,
  },
  {
    version: 8,
    name: 'watchdog findings',
    sql: `
      -- What the watchdog found: one row per finding, open until a sweep no longer sees its cause. A cause that
      -- comes back after closing opens a new row, so each row is alerted once.
      CREATE TABLE watchdog_findings (
        id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        kind         TEXT NOT NULL,
        business_id  TEXT NOT NULL,
        severity     TEXT NOT NULL CHECK (severity IN ('critical', 'warning')),
        since        TIMESTAMPTZ NOT NULL,
        summary      TEXT NOT NULL,
        workflow_id  TEXT,
        amount_minor BIGINT,
        currency     TEXT,
        opened_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
        last_seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
        closed_at    TIMESTAMPTZ,
        alerted_at   TIMESTAMPTZ
      );
      -- At most one open finding per cause, whatever sweeps race.
      CREATE UNIQUE INDEX watchdog_findings_open ON watchdog_findings (kind, business_id) WHERE closed_at IS NULL;

      -- Ended payments whose bank status was found to agree with the ledger: not asked about again.
      CREATE TABLE bank_reconciliations (
        payment_id  TEXT PRIMARY KEY,
        bank_status TEXT NOT NULL,
        ledger      TEXT NOT NULL CHECK (ledger IN ('settled', 'reversed')),
        checked_at  TIMESTAMPTZ NOT NULL DEFAULT now()
      );
    `,
  },
];

/** Advisory-lock class for migrations; the second key is the schema, so schemas migrate independently. */
const MIGRATION_LOCK_CLASS = 0x6c6467; // "ldg"

const versionRow = z.object({ version: z.union([z.number(), z.string()]).transform(Number) });
const presenceRow = z.object({ present: z.boolean() });

/** Applies every migration not yet recorded; safe to call from several processes at once. */
export async function migrate(
  db: SqlDatabase,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number[]> {
  // Fast path: an up-to-date database needs only reads, so read-only clients never take the lock.
  if (pendingOf(migrations, await appliedVersions(db)).length === 0) return [];

  return db.transaction(async (tx) => {
    // Transaction-scoped: released by COMMIT or ROLLBACK, so a crashed migrator never leaves it held.
    await tx.query('SELECT pg_advisory_xact_lock($1, hashtext(current_schema()))', [MIGRATION_LOCK_CLASS]);
    await tx.exec(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
      )`);
    const rows = await tx.query('SELECT version FROM schema_migrations');
    const pending = pendingOf(migrations, new Set(rows.map((row) => versionRow.parse(row).version)));
    for (const migration of pending) {
      await tx.exec(migration.sql);
      await tx.query('INSERT INTO schema_migrations (version, name) VALUES ($1, $2)', [
        migration.version,
        migration.name,
      ]);
    }
    return pending.map((migration) => migration.version);
  });
}

async function appliedVersions(db: SqlDatabase): Promise<Set<number>> {
  const [presence] = await db.query("SELECT to_regclass('schema_migrations') IS NOT NULL AS present");
  if (!presenceRow.parse(presence).present) return new Set();
  const rows = await db.query('SELECT version FROM schema_migrations');
  return new Set(rows.map((row) => versionRow.parse(row).version));
}

function pendingOf(migrations: readonly Migration[], applied: Set<number>): Migration[] {
  return [...migrations]
    .sort((a, b) => a.version - b.version)
    .filter((migration) => !applied.has(migration.version));
}
