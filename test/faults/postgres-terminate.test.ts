/**
 * baton's PostgreSQL access when the server kills its connections (`pg_terminate_backend`, as a failover or an
 * operator does): the statement in flight fails, the process lives on, and the next statement runs on a fresh
 * connection. Found by the fault suite, where a terminated connection once took the whole worker down.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Client } from 'pg';
import { openDatabase } from '../../services/db';
import type { SqlDatabase } from '../../services/db';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';
import { sleep } from './harness/random';

const schema = uniqueSchema('faults_pgkill');
const appName = `baton_pgkill_${process.pid}`;
let db: SqlDatabase;
let admin: Client;

async function terminateOurs(): Promise<number> {
  const found = await admin.query<{ pid: number }>(
    'SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
    [appName],
  );
  for (const { pid } of found.rows) await admin.query('SELECT pg_terminate_backend($1)', [pid]);
  return found.rows.length;
}

/** Waits until one of our connections runs `statement`, so a termination interrupts it rather than precedes it. */
async function untilRunning(statement: string): Promise<void> {
  for (;;) {
    const { rows } = await admin.query(
      "SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND strpos(query, $2) > 0",
      [appName, statement],
    );
    if (rows.length > 0) return;
    await sleep(20);
  }
}

before(async () => {
  const url = new URL(TEST_DATABASE_URL);
  url.searchParams.set('application_name', appName);
  db = await openDatabase({ databaseUrl: url.toString(), schema, poolSize: 2 });
  await db.exec('CREATE TABLE marks (id INT PRIMARY KEY)');
  admin = new Client({ connectionString: TEST_DATABASE_URL });
  await admin.connect();
});

after(async () => {
  await db.close();
  await admin.end();
  await dropSchema(schema);
});

describe('PostgreSQL connections terminated by the server', () => {
  it('fail the transaction they were in, and the next one commits on a new connection', async () => {
    const broken = db.transaction(async (tx) => {
      await tx.query('INSERT INTO marks (id) VALUES (1)');
      // Idle in transaction, between two statements, when the server kills the connection.
      assert.ok((await terminateOurs()) > 0);
      await sleep(300);
      await tx.query('INSERT INTO marks (id) VALUES (2)');
    });
    await assert.rejects(broken);
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO marks (id) VALUES (3)');
    });
    const rows = await db.query('SELECT id FROM marks ORDER BY id');
    assert.deepEqual(
      rows.map((row) => Number(row.id)),
      [3],
    );
  });

  it('do not hand a killed pooled connection to the next statement', async () => {
    await db.query('SELECT 1');
    await db.query('SELECT 1');
    assert.ok((await terminateOurs()) > 0);
    await sleep(300);
    // Both pooled connections are dead; each statement must still find a live one.
    for (let i = 0; i < 4; i++) await db.query('SELECT 1');
  });

  it('fail only the statement a termination interrupts', async () => {
    // The rejection is expected before the test awaits it: its handler is attached now, not after the kill.
    const slow = assert.rejects(db.query('SELECT pg_sleep(5)'));
    await untilRunning('SELECT pg_sleep(5)');
    assert.ok((await terminateOurs()) > 0);
    await slow;
    assert.deepEqual(await db.query('SELECT 2 AS two'), [{ two: 2 }]);
  });
});
