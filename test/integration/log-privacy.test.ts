/**
 * The logs of a whole demo, every component's and the workflows' and activities' through the SDK, are JSON lines
 * that name runs by their ids and correlation ids, and never a person: no customer's name, email or phone, no
 * beneficiary's name or IBAN.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { DEMO_CUSTOMERS } from '../../local/demo-seed';
import { AML_DEMO_NAMES } from '../../local/demo-names';

const PROJECT_ROOT = path.resolve(__dirname, '../..');
/** The IBAN every demo payment pays. */
const DEMO_IBAN = 'DE89370400440532013000';

/** Runs `npm run demo -- --verbose` and returns everything it printed, stdout and stderr together. */
function runVerboseDemo(): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'local/demo-main.ts', '--verbose'], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output }));
  });
}

test('a demo logs JSON lines with run and correlation ids, and no personal data', async () => {
  const { code, output } = await runVerboseDemo();
  assert.equal(code, 0, `the demo passed:\n${output.slice(-3000)}`);

  const records = output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  const activityLines = records.filter(
    (r) =>
      r.sdkComponent === 'activity' &&
      typeof r.workflowId === 'string' &&
      typeof r.workflowRunId === 'string' &&
      typeof r.activityType === 'string',
  );
  assert.ok(activityLines.length > 10, 'activities log with their workflow id, run id and activity type');
  assert.ok(
    activityLines.some((r) => typeof r.correlationId === 'string'),
    'a run started with a correlation id names it on its activities’ lines',
  );
  assert.ok(
    records.some((r) => r.component === 'worker') && records.some((r) => r.component === 'commands'),
    'the worker and the command consumer log through the same logger',
  );
  assert.ok(records.every((r) => typeof r.level === 'string' && typeof r.time === 'string'));

  const people = [
    ...DEMO_CUSTOMERS.flatMap((c) => [c.name, c.email, ...(c.phone === null ? [] : [c.phone])]),
    ...Object.values(AML_DEMO_NAMES),
    'Demo Newcomer',
    DEMO_IBAN,
  ];
  for (const secret of people) {
    assert.ok(!output.includes(secret), `"${secret}" appears in the logs`);
  }
  assert.deepEqual(output.match(/[\w.+-]+@example\.com/g) ?? [], [], 'no customer email in the logs');
  assert.deepEqual(output.match(/(?<![\w+])\+\d{8,15}\b/g) ?? [], [], 'no phone number in the logs');
});
