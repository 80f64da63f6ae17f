import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { runCli } from '../support/cli';

// No Temporal server is running for these: asking for help must never need one.
const NO_SERVER = { TEMPORAL_ADDRESS: '127.0.0.1:1' };

describe('the CLI usage', () => {
  test("prints one command's usage for --help after it, and exits 0", async () => {
    const run = await runCli(NO_SERVER, 'pay', '--help');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^usage: npm run client -- pay --from <accountId>/);
    assert.match(run.stdout, /--amount <decimal> --currency <code>/);
    assert.doesNotMatch(run.stdout, /register --name/);
  });

  test('takes -h too, wherever it stands among the flags', async () => {
    const run = await runCli(NO_SERVER, 'review', 'p-1', '--approve', '-h');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^usage: npm run client -- review <paymentId> \(--approve \| --reject\)/);
  });

  test('lists resolve, and prints its usage for --help without a server', async () => {
    const all = await runCli(NO_SERVER);
    assert.match(all.stdout, /^ {2}resolve <paymentId> --reviewer <name> \[--note <text>\] \[--json\]$/m);
    const run = await runCli(NO_SERVER, 'resolve', '--help');
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^usage: npm run client -- resolve <paymentId> --reviewer <name>/);
  });

  test('still refuses an unknown command asked for help, with exit 2', async () => {
    const run = await runCli(NO_SERVER, 'refund', '--help');
    assert.equal(run.code, 2);
    assert.match(run.stderr, /unknown command "refund"/);
  });
});
