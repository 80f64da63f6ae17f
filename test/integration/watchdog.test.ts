/**
 * The watchdog on the real stack: the Temporal dev server, the ledger on PostgreSQL, the bank simulator, the SMTP
 * sink and NATS. Each finding kind is made the way it happens (an operator terminates a run at the bank, the bank
 * is down, a run's type has no worker, the bank returns a settled payment, a malformed command), found by a sweep
 * the CLI runs, listed by `stuck`, mailed once, and closed once its cause is gone; healthy runs are never reported.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { paymentState, startPayment } from '../../client/payments';
import { startRegistration } from '../../client/registrations';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import { ensureWatchdogSchedule } from '../../workers/watchdog-schedule';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { DEFAULT_WATCHDOG_SETTINGS } from '../../activities/watchdog';
import { PAYMENT_COMMAND_SUBJECT } from '../../services/bus';
import { PaymentStatus, paymentWorkflowId } from '../../workflows/payment-contract';
import type { paymentWorkflow } from '../../workflows/payment';
import { WATCHDOG_SCHEDULE_ID } from '../../workflows/watchdog-contract';
import type { StoredFinding, SweepSummary } from '../../workflows/watchdog-contract';
import { runCli } from '../support/cli';
import { publishMalformedPaymentCommand } from '../support/commands';
import { webhookDecidedPayment } from '../support/payments';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';
import { eventually } from '../support/eventually';

const schema = uniqueSchema('watchdog');
const tag = Date.now().toString(36);
const OPS = 'ops@baton.test';
let stack: LocalStack;
let env: NodeJS.ProcessEnv;

const cli = (...args: string[]) => runCli(env, ...args);

async function sweep(): Promise<SweepSummary> {
  const run = await cli('watchdog', 'run', '--json');
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as SweepSummary;
}

async function openFindings(): Promise<StoredFinding[]> {
  const run = await cli('stuck', '--json');
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout) as StoredFinding[];
}

/** Sweeps until a finding of `kind` about `businessId` is open, and returns it. */
function sweepUntilFound(kind: string, businessId: string): Promise<StoredFinding> {
  return eventually(`a ${kind} finding about ${businessId}`, async () => {
    await sweep();
    return (await openFindings()).find((f) => f.kind === kind && f.businessId === businessId);
  });
}

/** Starts a payment and waits until the bank has decided it (webhook held) and the run knows its reference. */
async function parkAtBank(paymentId: string, outcome: 'settled' | 'failed', amountMinor: number) {
  stack.bank.setScenario(paymentId, { outcome, delayMs: 50, holdWebhook: true });
  const started = await startPayment(
    stack.client,
    webhookDecidedPayment(paymentId, amountMinor),
    stack.taskQueue,
  );
  await eventually(`${paymentId} at the bank`, async () => {
    const state = await paymentState(stack.client, paymentId).catch(() => undefined);
    const ready =
      state?.status === PaymentStatus.Submitted &&
      state.bank?.reference !== undefined &&
      stack.bank.heldWebhooks().includes(paymentId);
    return ready ? true : undefined;
  });
  return started.handle;
}

/** How long a stage may take in this test's stack before the watchdog calls it stuck. */
const STAGE_MS = 3_000;
const orphanId = `wd-${tag}-orphan`;
const healthyId = `wd-${tag}-healthy`;

before(async () => {
  stack = await startLocalStack({
    databaseUrl: TEST_DATABASE_URL,
    databaseSchema: schema,
    // Sweeps are run by hand here; the schedule is tested on its own below.
    watchdog: {
      intervalSeconds: 0,
      // Stages count as stuck after a few seconds, so a test can wait for one.
      settings: {
        ...DEFAULT_WATCHDOG_SETTINGS,
        stuckAfterMs: STAGE_MS,
        reviewOverdueMs: STAGE_MS,
        maxAttempts: 3,
        opsEmail: OPS,
        uiUrl: 'http://ui.test',
      },
    },
  });
  env = {
    TEMPORAL_ADDRESS: stack.address,
    TEMPORAL_UI_URL: 'http://ui.test',
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
  };
});

after(async () => {
  await stack?.stop();
  await dropSchema(schema);
});

describe('the watchdog', () => {
  test('finds a payment terminated at the bank, mails it once, and closes it once resolved', async () => {
    const orphan = await parkAtBank(orphanId, 'settled', 11_00);
    await parkAtBank(healthyId, 'settled', 12_00);
    await orphan.terminate('operator ended it at the bank');

    const finding = await sweepUntilFound('orphaned_debit', orphanId);
    assert.equal(finding.severity, 'critical');
    assert.equal(finding.amountMinor, 11_00);
    assert.equal(finding.currency, 'EUR');
    assert.match(finding.summary, /11\.00 EUR held in clearing:EUR and its run is terminated/);
    assert.match(finding.action, /resolve <paymentId>/);
    // The payment still at the bank with its run open is no orphan (it may be reported slow: stages are short here).
    assert.equal(
      (await openFindings()).filter((f) => f.kind === 'orphaned_debit' && f.businessId === healthyId).length,
      0,
    );

    // `stuck` names it for people too, with its amount and what to do.
    const text = await cli('stuck');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(`CRITICAL orphaned_debit {2}${orphanId} {2}11\\.00 EUR`));
    assert.match(text.stdout, /do: end it by what the bank says/);

    const mails = () =>
      stack.mailSink.messages().filter((m) => m.to.includes(OPS) && m.subject.includes(orphanId));
    assert.equal(mails().length, 1);
    assert.match(mails()[0]?.subject ?? '', /\[baton watchdog\] critical: orphaned_debit/);
    assert.match(mails()[0]?.text ?? '', /npm run client -- resolve/);
    assert.match(mails()[0]?.text ?? '', /http:\/\/ui\.test\/namespaces\/default\/workflows\/payment%3A/);

    // Seen again by the next sweep: the same finding, no second mail.
    await sweep();
    const again = (await openFindings()).find(
      (f) => f.kind === 'orphaned_debit' && f.businessId === orphanId,
    );
    assert.equal(again?.id, finding.id);
    assert.equal(mails().length, 1);

    const resolved = await cli('resolve', orphanId, '--reviewer', 'ops-anna');
    assert.equal(resolved.code, 0, resolved.stderr);
    await sweep();
    assert.equal((await openFindings()).filter((f) => f.businessId === orphanId).length, 0);

    assert.ok(stack.bank.releaseWebhook(healthyId));
    const healthy = await stack.client.workflow
      .getHandle<typeof paymentWorkflow>(paymentWorkflowId(healthyId))
      .result();
    assert.equal(healthy.status, PaymentStatus.Settled);
  });

  test('reports a payment whose bank returned it after it settled, as a disagreement', async () => {
    const id = `wd-${tag}-returned`;
    const handle = await parkAtBank(id, 'settled', 13_00);
    assert.ok(stack.bank.releaseWebhook(id));
    assert.equal((await handle.result()).status, PaymentStatus.Settled);
    // Checked and found in agreement: a settled payment the bank settled is not reported.
    await sweep();
    assert.equal((await openFindings()).filter((f) => f.businessId === id).length, 0);

    const other = `wd-${tag}-returned-late`;
    const late = await parkAtBank(other, 'settled', 14_00);
    assert.ok(stack.bank.releaseWebhook(other));
    assert.equal((await late.result()).status, PaymentStatus.Settled);
    assert.ok(stack.bank.returnSettled(other));
    const finding = await sweepUntilFound('bank_disagreement', other);
    assert.equal(finding.severity, 'critical');
    assert.match(finding.summary, /the bank says returned .* but the ledger settled it/);
    assert.equal(finding.amountMinor, 14_00);
  });

  test('reports an activity that keeps retrying while the bank is down, and closes it once the bank is back', async () => {
    const id = `wd-${tag}-bank-down`;
    stack.bank.failFor(10 * 60_000);
    const started = await startPayment(stack.client, webhookDecidedPayment(id, 15_00), stack.taskQueue);
    let finding: StoredFinding;
    try {
      finding = await sweepUntilFound('activity_retrying', id);
    } finally {
      stack.bank.failFor(0);
    }
    assert.match(finding.summary, /activity submitToBank on attempt \d+/);
    assert.match(finding.summary, /last failure: .*the bank is down for a moment/);
    await eventually(`${id} submitted`, async () => {
      const state = await paymentState(stack.client, id).catch(() => undefined);
      return state?.status === PaymentStatus.Submitted ? true : undefined;
    });
    await eventually('the finding closed', async () => {
      await sweep();
      const open = (await openFindings()).some((f) => f.kind === 'activity_retrying' && f.businessId === id);
      return open ? undefined : true;
    });
    // The bank is back: the payment goes on by itself.
    assert.equal((await started.handle.result()).status, PaymentStatus.Settled);
  });

  test('reports a payment at the bank past its time, and an overdue review, until they move on', async () => {
    const atBank = `wd-${tag}-slow-bank`;
    const handle = await parkAtBank(atBank, 'settled', 16_00);
    const slow = await sweepUntilFound('payment_stuck', atBank);
    assert.equal(slow.severity, 'warning');
    assert.match(slow.summary, new RegExp(`payment ${atBank} \\(16\\.00 EUR\\) has been submitted since`));
    const submitted = (await paymentState(stack.client, atBank)).steps.find(
      (step) => step.name === 'submitted',
    );
    assert.equal(slow.since, submitted?.at);

    const inReview = `wd-${tag}-review`;
    await startPayment(
      stack.client,
      {
        ...webhookDecidedPayment(inReview, 17_00),
        beneficiary: { name: AML_DEMO_NAMES.review, country: 'DE', iban: 'DE89370400440532013000' },
      },
      stack.taskQueue,
    );
    const overdue = await sweepUntilFound('review_overdue', inReview);
    assert.match(overdue.action, /review <paymentId> approve\|reject/);

    assert.ok(stack.bank.releaseWebhook(atBank));
    assert.equal((await handle.result()).status, PaymentStatus.Settled);
    const reviewed = await cli('review', inReview, '--reject', '--reviewer', 'officer-7');
    assert.equal(reviewed.code, 0, reviewed.stderr);
    await sweep();
    const open = await openFindings();
    assert.equal(open.filter((f) => f.businessId === atBank || f.businessId === inReview).length, 0);
  });

  test('reports a payment the bank never answered as needing attention', async () => {
    const id = `wd-${tag}-silent-bank`;
    // The bank takes the payment and stays silent: the run polls once, then waits for an operator.
    stack.bank.setScenario(id, { outcome: 'settled', delayMs: 60 * 60_000 });
    const request = webhookDecidedPayment(id, 18_00);
    await startPayment(
      stack.client,
      { ...request, timings: { ...request.timings, bankStatusTimeoutMs: 200, bankPollIntervalMs: 200 } },
      stack.taskQueue,
    );
    const finding = await sweepUntilFound('payment_needs_attention', id);
    assert.match(finding.summary, /has been needs_attention since/);
    await stack.client.workflow.getHandle(paymentWorkflowId(id)).terminate('test over');
  });

  test('reports a registration still running past its time', async () => {
    const id = `wd-${tag}-registration`;
    // The mail server refuses: the welcome keeps retrying, so the registration cannot complete.
    stack.mailSink.refuseUntilCleared();
    try {
      await startRegistration(
        stack.client,
        {
          registrationId: id,
          name: 'Wanda Watch',
          email: `wd-${tag}@example.test`,
          channel: 'email',
          currency: 'EUR',
        },
        stack.taskQueue,
      );
      const finding = await sweepUntilFound('registration_stuck', id);
      assert.match(finding.summary, new RegExp(`registration:${id} has been running since`));
    } finally {
      stack.mailSink.acceptAgain();
    }
    await stack.client.workflow.getHandle(`registration:${id}`).result();
    await sweep();
    assert.deepEqual(
      (await openFindings()).filter((f) => f.businessId === id),
      [],
    );
  });

  test('reports a run whose workflow task keeps failing', async () => {
    const id = `wd-${tag}-no-such-type`;
    await stack.client.workflow.start('noSuchWorkflow', {
      workflowId: id,
      taskQueue: stack.taskQueue,
      args: [],
    });
    const finding = await sweepUntilFound('workflow_task_failing', id);
    assert.equal(finding.severity, 'critical');
    assert.match(finding.summary, /workflow task failed \d+ times in a row/);
    await stack.client.workflow.getHandle(id).terminate('test over');
    await sweep();
    assert.equal((await openFindings()).filter((f) => f.businessId === id).length, 0);
  });

  test('reports a dead-lettered command', async () => {
    const eventId = `wd-${tag}-malformed`;
    await publishMalformedPaymentCommand(stack.bus, eventId);
    const finding = await eventually('the dead letter found', async () => {
      await sweep();
      return (await openFindings()).find(
        (f) => f.kind === 'dead_letter' && f.summary.includes(PAYMENT_COMMAND_SUBJECT),
      );
    });
    assert.equal(finding.severity, 'warning');
  });

  test('installs its schedule once, updates its interval, and the schedule sweeps', async () => {
    const first = await ensureWatchdogSchedule(stack.client, {
      intervalSeconds: 3600,
      taskQueue: stack.taskQueue,
    });
    assert.equal(first.change, 'created');
    const again = await ensureWatchdogSchedule(stack.client, {
      intervalSeconds: 3600,
      taskQueue: stack.taskQueue,
    });
    assert.equal(again.change, 'unchanged');
    const cliInstall = await cli('watchdog', 'install', '--interval', '1800', '--json');
    assert.equal(cliInstall.code, 0, cliInstall.stderr);
    assert.equal((JSON.parse(cliInstall.stdout) as { change: string }).change, 'updated');
    const handle = stack.client.schedule.getHandle(WATCHDOG_SCHEDULE_ID);
    assert.equal((await handle.describe()).spec.intervals?.[0]?.every, 1_800_000);

    await handle.trigger();
    const summary = await eventually('a scheduled sweep completed', async () => {
      for await (const run of stack.client.workflow.list({
        query: `TemporalScheduledById = '${WATCHDOG_SCHEDULE_ID}' AND ExecutionStatus = 'Completed'`,
      })) {
        return stack.client.workflow.getHandle(run.workflowId, run.runId).result() as Promise<SweepSummary>;
      }
      return undefined;
    });
    // It sees what the hand-run sweeps left open: the bank disagreement nobody has corrected.
    assert.equal(summary.open.bank_disagreement, 1);
    assert.deepEqual(summary.unreadable, []);
    await handle.delete();
  });

  test('refuses bad input with exit 2', async () => {
    const kind = await cli('stuck', '--kind', 'nonsense');
    assert.equal(kind.code, 2);
    assert.match(kind.stderr, /--kind must be one of/);
    const action = await cli('watchdog', 'fetch');
    assert.equal(action.code, 2);
    assert.match(action.stderr, /unknown watchdog action/);
    const interval = await cli('watchdog', 'install', '--interval', '0');
    assert.equal(interval.code, 2);
    assert.match(interval.stderr, /--interval must be a whole number/);
  });
});
