/** The PostgreSQL this machine runs, for tests: each test file works in a schema of its own, dropped at the end. */
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';

/** Where the test PostgreSQL is (trust auth on loopback here; override with TEST_DATABASE_URL). */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://root@127.0.0.1:5432/test';

/** A schema name no other test run uses. */
export function uniqueSchema(label: string): string {
  return `${label}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** Drops a test schema and everything in it. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new Client({ connectionString: TEST_DATABASE_URL });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
