/**
 * Does the `clearing:<CUR>` row lock limit baton? Every debit moves money into its currency's clearing account
 * and locks that row until it commits, so debits of one currency run one at a time. This drives the ledger alone
 * (no Temporal) with concurrent debits, all into one clearing account and then spread over four, alternating, and
 * prints debits per second and per-debit latency for each: the ledger's own ceiling, to set beside the payment
 * throughput the main benchmark measures (two ledger transfers per settled payment).
 *
 *   npx tsx bench/ledger-lock.ts [--debits N] [--concurrency C] [--rounds R] [--pglite]
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client as PgClient } from 'pg';
import { Ledger } from '../services/ledger';
import { loadAverage } from './proc';
import { summarize } from './stats';

const ACCOUNTS = 200;

async function openLedger(
  pglite: boolean,
  databaseUrl: string,
  schema: string,
  dir: string,
  poolSize: number,
) {
  return Ledger.open(pglite ? { dataDir: path.join(dir, schema) } : { databaseUrl, schema, poolSize });
}

async function seed(ledger: Ledger, currencies: string[]): Promise<string[]> {
  const accounts: string[] = [];
  for (const currency of currencies) await ledger.ensureSystemAccounts(currency);
  for (let i = 0; i < ACCOUNTS; i++) {
    const currency = currencies[i % currencies.length] ?? 'EUR';
    const id = `LOCK-${i}-${currency}`;
    await ledger.openAccount({ id, kind: 'customer', currency });
    await ledger.transfer({
      idempotencyKey: `lock-seed:${id}`,
      fromAccountId: Ledger.systemAccountId('funding', currency),
      toAccountId: id,
      amountMinor: 100_000_000,
      currency,
    });
    accounts.push(id);
  }
  return accounts;
}

async function debits(ledger: Ledger, accounts: string[], total: number, concurrency: number, tag: string) {
  const latencies: number[] = [];
  let next = 0;
  const began = performance.now();
  const lane = async () => {
    while (next < total) {
      const index = next;
      next += 1;
      const account = accounts[index % accounts.length] ?? '';
      const currency = account.slice(account.lastIndexOf('-') + 1);
      const t0 = performance.now();
      await ledger.transfer({
        idempotencyKey: `${tag}-${index}:debit`,
        fromAccountId: account,
        toAccountId: Ledger.systemAccountId('clearing', currency),
        amountMinor: 100,
        currency,
      });
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, lane));
  const seconds = (performance.now() - began) / 1000;
  return { perSecond: Math.round((total / seconds) * 10) / 10, latency: summarize(latencies) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      debits: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '20' },
      rounds: { type: 'string', default: '2' },
      pglite: { type: 'boolean', default: false },
      'database-url': { type: 'string' },
    },
  });
  const databaseUrl =
    values['database-url'] ?? process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';
  const total = Number(values.debits);
  const concurrency = Number(values.concurrency);
  const dir = await mkdtemp(path.join(os.tmpdir(), 'baton-ledger-lock-'));
  const schemas: string[] = [];
  try {
    const setups = [
      { label: '1 currency (one clearing row)', currencies: ['EUR'] },
      { label: '4 currencies (four clearing rows)', currencies: ['EUR', 'USD', 'GBP', 'CHF'] },
    ];
    const results = new Map<string, string[]>();
    for (let round = 0; round < Number(values.rounds); round++) {
      const order = round % 2 === 0 ? setups : [...setups].reverse();
      for (const setup of order) {
        const schema = `bench_lock_${randomBytes(4).toString('hex')}`;
        schemas.push(schema);
        const ledger = await openLedger(values.pglite, databaseUrl, schema, dir, concurrency);
        try {
          const accounts = await seed(ledger, setup.currencies);
          const load = loadAverage()[0];
          const { perSecond, latency } = await debits(ledger, accounts, total, concurrency, schema);
          const line =
            `${perSecond} debits/s, p50 ${latency.p50} ms, p99 ${latency.p99} ms ` +
            `(load ${load}→${loadAverage()[0]})`;
          results.set(setup.label, [...(results.get(setup.label) ?? []), line]);
          process.stderr.write(`${setup.label}: ${line}\n`);
        } finally {
          await ledger.close();
        }
      }
    }
    process.stdout.write(
      `ledger alone on ${values.pglite ? 'PGlite' : 'PostgreSQL'}, ${total} debits, ${concurrency} at once:\n`,
    );
    for (const [label, lines] of results) process.stdout.write(`  ${label}:\n    ${lines.join('\n    ')}\n`);
  } finally {
    if (!values.pglite) {
      const pg = new PgClient({ connectionString: databaseUrl });
      await pg.connect();
      try {
        for (const schema of schemas) await pg.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await pg.end();
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
