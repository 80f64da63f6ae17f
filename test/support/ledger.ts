/** A ledger on the machine's PostgreSQL for one test suite: opened in a schema of its own, dropped after it. */
import { after, before } from 'node:test';
import { Ledger } from '../../services/ledger';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from './postgres';

/**
 * Registers the enclosing suite's `before` and `after` hooks and returns a getter for the ledger they open, so
 * every test in the suite shares one pool of `poolSize` connections (enough for the races the suite runs).
 */
export function ledgerOnPostgresPerSuite(label: string, poolSize: number): () => Ledger {
  const schema = uniqueSchema(label);
  let ledger: Ledger | undefined;
  before(async () => {
    ledger = await Ledger.open({ databaseUrl: TEST_DATABASE_URL, schema, poolSize });
  });
  after(async () => {
    try {
      await ledger?.close();
    } finally {
      await dropSchema(schema);
    }
  });
  return () => {
    if (ledger === undefined)
      throw new Error('the suite ledger is opened in before() and used in tests only');
    return ledger;
  };
}
