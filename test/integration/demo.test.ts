/**
 * The demo `npm start` and `npm run demo` run, on a stack of its own: every scenario, from the payment branches to
 * the commands arriving on the bus, must end as expected, and the ledger and the sinks must agree with them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { formatReport, runScenariosOn } from '../../local/scenarios';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';

const schema = uniqueSchema('demo');
let stack: LocalStack;

before(async () => {
  stack = await startLocalStack({ databaseUrl: TEST_DATABASE_URL, databaseSchema: schema });
});

after(async () => {
  await stack?.stop();
  await dropSchema(schema);
});

describe('the demo', () => {
  test('ends every scenario as expected, with a ledger and messages that agree', async () => {
    const lines: string[] = [];
    const report = await runScenariosOn(stack, (line) => lines.push(line));
    const names = report.scenarios.map((s) => s.name);
    for (const name of [
      'settled',
      'register, pay, hear the outcome by SMS',
      'payment started by a command event',
      'same command published twice',
      'malformed command dead-lettered',
      'registration completed, heard by another domain',
    ]) {
      assert.ok(names.includes(name), `the demo runs "${name}"`);
    }
    assert.ok(report.ok, formatReport(report));
    assert.equal(report.ledger.sum, 0);
  });
});
