/**
 * `npm run histories:record`: runs one payment or registration per branch of each workflow on an ephemeral stack
 * (synthetic data only) and writes each run's history to test/replay/histories/<branch>.<revision>.json, in the
 * format `temporal workflow show --output json` produces, with a manifest naming each file's workflow id.
 *
 * Files of the current revision are rewritten; files of earlier revisions are kept: they are the runs still in
 * flight when a change ships, and the replay tests prove the current code still finishes them.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { exportHistory } from '../../client/cli/history';
import { cancelPayment, paymentState, reviewPayment, startPayment } from '../../client/payments';
import { startRegistration } from '../../client/registrations';
import { resolvePayment } from '../../client/resolutions';
import { runSweep } from '../../client/watchdog';
import { WATCHDOG_REVISION } from '../../workflows/watchdog-contract';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { PAYMENT_REVISION, PaymentStatus } from '../../workflows/payment-contract';
import type { PaymentRequest, PaymentStatus as Status } from '../../workflows/payment-contract';
import type { registrationWorkflow } from '../../workflows/registration';
import { RESOLUTION_REVISION } from '../../workflows/payment-resolution-contract';
import {
  changePreferenceUpdate,
  REGISTRATION_REVISION,
  registrationWorkflowId,
} from '../../workflows/registration-contract';
import type { RegistrationRequest } from '../../workflows/registration-contract';

/** Where the fixtures live. */
export const HISTORIES_DIR = path.join(__dirname, 'histories');
/** The manifest: which workflow id and type each fixture file holds. */
export const MANIFEST = path.join(HISTORIES_DIR, 'manifest.json');

/** One fixture as the manifest lists it. */
export interface FixtureEntry {
  file: string;
  workflowId: string;
  workflowType: 'paymentWorkflow' | 'registrationWorkflow' | 'paymentResolutionWorkflow' | 'watchdogWorkflow';
  branch: string;
  revision: string;
  /** Whether the run was still open when recorded (a payment parked for an operator). */
  open: boolean;
}

interface Recording {
  branch: string;
  workflowType: FixtureEntry['workflowType'];
  revision: string;
  /** Drives one run to the point worth recording; returns its workflow id and whether it is still open. */
  run(stack: LocalStack): Promise<{ workflowId: string; open?: boolean }>;
}

const TIMINGS = {
  amlReviewTimeoutMs: 5 * 60_000,
  bankStatusTimeoutMs: 30_000,
  bankPollAttempts: 3,
  bankPollIntervalMs: 5_000,
  needsAttentionRecheckMs: 10 * 60_000,
};

function payment(
  branch: string,
  overrides: Partial<PaymentRequest> = {},
  name: string = AML_DEMO_NAMES.clear,
): PaymentRequest {
  return {
    paymentId: `fixture-${branch}`,
    fromAccountId: 'A-1001-EUR',
    amountMinor: 12_34,
    currency: 'EUR',
    beneficiary: { name, country: 'DE', iban: 'DE89370400440532013000' },
    timings: TIMINGS,
    ...overrides,
  };
}

function registration(branch: string, overrides: Partial<RegistrationRequest> = {}): RegistrationRequest {
  return {
    registrationId: `fixture-${branch}`,
    name: 'Fixture Person',
    email: `fixture-${branch}@example.com`,
    channel: 'email',
    currency: 'EUR',
    ...overrides,
  };
}

async function until(client: Client, paymentId: string, status: Status): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const state = await paymentState(client, paymentId).catch(() => undefined);
    if (state?.status === status) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`payment ${paymentId} never reached ${status}`);
}

async function finished(handle: WorkflowHandle): Promise<string> {
  await handle.result();
  return handle.workflowId;
}

const payments = (branch: string, run: Recording['run']): Recording => ({
  branch: `payment-${branch}`,
  workflowType: 'paymentWorkflow',
  revision: PAYMENT_REVISION,
  run,
});
const registrations = (branch: string, run: Recording['run']): Recording => ({
  branch: `registration-${branch}`,
  workflowType: 'registrationWorkflow',
  revision: REGISTRATION_REVISION,
  run,
});
const resolutions = (branch: string, run: Recording['run']): Recording => ({
  branch: `payment-resolution-${branch}`,
  workflowType: 'paymentResolutionWorkflow',
  revision: RESOLUTION_REVISION,
  run,
});

const sweeps = (branch: string, run: Recording['run']): Recording => ({
  branch: `watchdog-${branch}`,
  workflowType: 'watchdogWorkflow',
  revision: WATCHDOG_REVISION,
  run,
});

/** One recording per branch of each workflow. */
const RECORDINGS: readonly Recording[] = [
  payments('settled', async (stack) => {
    const req = payment('settled');
    stack.bank.setScenario(req.paymentId, { outcome: 'settled', delayMs: 300 });
    // With the initiator's correlation id, as a command event would carry it: every activity gets it in a header.
    const started = await startPayment(stack.client, req, stack.taskQueue, 'fixture-order-settled');
    return { workflowId: await finished(started.handle) };
  }),
  payments('insufficient-funds', async (stack) => {
    const req = payment('insufficient-funds', { fromAccountId: 'A-1002-EUR', amountMinor: 900_00 });
    return { workflowId: await finished((await startPayment(stack.client, req, stack.taskQueue)).handle) };
  }),
  payments('aml-hit', async (stack) => {
    const req = payment('aml-hit', {}, AML_DEMO_NAMES.hit);
    return { workflowId: await finished((await startPayment(stack.client, req, stack.taskQueue)).handle) };
  }),
  payments('aml-review-approved', async (stack) => {
    const req = payment('aml-review-approved', {}, AML_DEMO_NAMES.review);
    stack.bank.setScenario(req.paymentId, { outcome: 'settled', delayMs: 300 });
    const started = await startPayment(stack.client, req, stack.taskQueue);
    await until(stack.client, req.paymentId, PaymentStatus.AwaitingAmlReview);
    await reviewPayment(stack.client, req.paymentId, { decision: 'approve', reviewer: 'fixture-officer' });
    return { workflowId: await finished(started.handle) };
  }),
  payments('aml-review-expired', async (stack) => {
    const req = payment(
      'aml-review-expired',
      { timings: { ...TIMINGS, amlReviewTimeoutMs: 1_000 } },
      AML_DEMO_NAMES.review,
    );
    return { workflowId: await finished((await startPayment(stack.client, req, stack.taskQueue)).handle) };
  }),
  payments('bank-failed', async (stack) => {
    const req = payment('bank-failed');
    stack.bank.setScenario(req.paymentId, { outcome: 'failed', delayMs: 300 });
    return { workflowId: await finished((await startPayment(stack.client, req, stack.taskQueue)).handle) };
  }),
  payments('cancelled', async (stack) => {
    const req = payment('cancelled', {}, AML_DEMO_NAMES.review);
    const started = await startPayment(stack.client, req, stack.taskQueue);
    await until(stack.client, req.paymentId, PaymentStatus.AwaitingAmlReview);
    await cancelPayment(stack.client, req.paymentId);
    return { workflowId: await finished(started.handle) };
  }),
  payments('needs-attention', async (stack) => {
    const req = payment('needs-attention', {
      timings: { ...TIMINGS, bankStatusTimeoutMs: 500, bankPollAttempts: 1, bankPollIntervalMs: 200 },
    });
    // The bank keeps the payment pending far longer than the workflow waits, and never calls back.
    stack.bank.setScenario(req.paymentId, { outcome: 'settled', delayMs: 60 * 60_000, webhook: 'drop' });
    const started = await startPayment(stack.client, req, stack.taskQueue);
    await until(stack.client, req.paymentId, PaymentStatus.NeedsAttention);
    return { workflowId: started.workflowId, open: true };
  }),
  resolutions('settled', async (stack) => {
    // A payment parked at the bank (its final status decided there, the webhook held), then terminated.
    const req = payment('resolution-settled', {
      timings: { ...TIMINGS, bankStatusTimeoutMs: 30 * 60_000, bankPollIntervalMs: 30 * 60_000 },
    });
    stack.bank.setScenario(req.paymentId, { outcome: 'settled', delayMs: 300, holdWebhook: true });
    const started = await startPayment(stack.client, req, stack.taskQueue);
    for (let i = 0; i < 600; i++) {
      const state = await paymentState(stack.client, req.paymentId).catch(() => undefined);
      if (state?.bank?.reference !== undefined && stack.bank.heldWebhooks().includes(req.paymentId)) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await started.handle.terminate('fixture: ended at the bank');
    const answer = await resolvePayment(
      stack.client,
      { paymentId: req.paymentId, reviewer: 'fixture-operator', note: 'fixture' },
      stack.taskQueue,
    );
    if (answer.kind !== 'resolved') throw new Error(`resolution refused: ${answer.message}`);
    return { workflowId: answer.workflowId };
  }),
  // After the payments above: one waits for an operator (needs attention), and one more is terminated at the bank
  // here, so the sweep has findings to open.
  sweeps('sweep', async (stack) => {
    const req = payment('watchdog-orphan', {
      timings: { ...TIMINGS, bankStatusTimeoutMs: 30 * 60_000, bankPollIntervalMs: 30 * 60_000 },
    });
    stack.bank.setScenario(req.paymentId, { outcome: 'settled', delayMs: 300, holdWebhook: true });
    const started = await startPayment(stack.client, req, stack.taskQueue);
    await until(stack.client, req.paymentId, PaymentStatus.Submitted);
    await started.handle.terminate('fixture: ended at the bank');
    const summary = await runSweep(stack.client, stack.taskQueue);
    if (summary.open.orphaned_debit !== 1) throw new Error(`the sweep found ${JSON.stringify(summary.open)}`);
    for await (const run of stack.client.workflow.list({ query: "WorkflowType = 'watchdogWorkflow'" })) {
      return { workflowId: run.workflowId };
    }
    throw new Error('the sweep left no run');
  }),
  registrations('email', async (stack) => {
    const started = await startRegistration(stack.client, registration('email'), stack.taskQueue);
    return { workflowId: await finished(started.handle) };
  }),
  registrations('sms', async (stack) => {
    const req = registration('sms', { channel: 'sms', phone: '+4915100000001' });
    return {
      workflowId: await finished((await startRegistration(stack.client, req, stack.taskQueue)).handle),
    };
  }),
  registrations('sms-fallback', async (stack) => {
    const req = registration('sms-fallback', { channel: 'sms', phone: '+15005550001' });
    return {
      workflowId: await finished((await startRegistration(stack.client, req, stack.taskQueue)).handle),
    };
  }),
  registrations('duplicate-email', async (stack) => {
    const first = registration('duplicate-email-first', { email: 'fixture-duplicate@example.com' });
    await finished((await startRegistration(stack.client, first, stack.taskQueue)).handle);
    const again = registration('duplicate-email', { email: 'FIXTURE-duplicate@example.com' });
    return {
      workflowId: await finished((await startRegistration(stack.client, again, stack.taskQueue)).handle),
    };
  }),
  registrations('preference-changed', async (stack) => {
    // Update-with-start: the change reaches the workflow in its first task, before any step, every time.
    const req = registration('preference-changed');
    const start = new WithStartWorkflowOperation<typeof registrationWorkflow>('registrationWorkflow', {
      workflowId: registrationWorkflowId(req.registrationId),
      taskQueue: stack.taskQueue,
      args: [req],
      workflowIdConflictPolicy: 'FAIL',
    });
    await stack.client.workflow.executeUpdateWithStart(changePreferenceUpdate, {
      args: [{ channel: 'sms', phone: '+4915100000002' }],
      startWorkflowOperation: start,
    });
    return { workflowId: await finished(await start.workflowHandle()) };
  }),
];

/** Reads the manifest, or an empty one. */
export async function readManifest(): Promise<FixtureEntry[]> {
  try {
    return JSON.parse(await readFile(MANIFEST, 'utf8')) as FixtureEntry[];
  } catch {
    return [];
  }
}

async function main(): Promise<void> {
  await mkdir(HISTORIES_DIR, { recursive: true });
  console.log('starting an ephemeral stack to record histories...');
  const stack = await startLocalStack({ bankDelayMs: 300 });
  const recorded: FixtureEntry[] = [];
  try {
    // RECORD_ONLY=<branch prefix> records only those branches (a new workflow's first fixture), leaving the rest.
    const only = process.env.RECORD_ONLY;
    for (const recording of RECORDINGS.filter((r) => only === undefined || r.branch.startsWith(only))) {
      const { workflowId, open = false } = await recording.run(stack);
      const exported = await exportHistory(stack.client, workflowId);
      const file = `${recording.branch}.${recording.revision}.json`;
      await writeFile(path.join(HISTORIES_DIR, file), exported.json + '\n');
      recorded.push({
        file,
        workflowId,
        workflowType: recording.workflowType,
        branch: recording.branch,
        revision: recording.revision,
        open,
      });
      console.log(`  ${file}: ${exported.events} events${open ? ' (open)' : ''}`);
    }
  } finally {
    await stack.stop();
  }
  const listed = await listInManifest(recorded);
  console.log(`wrote ${recorded.length} histories; the manifest lists ${listed}`);
}

/** Adds (or replaces) these fixtures in the manifest; returns how many it lists. */
export async function listInManifest(entries: readonly FixtureEntry[]): Promise<number> {
  const kept = (await readManifest()).filter((entry) => !entries.some((e) => e.file === entry.file));
  const manifest = [...kept, ...entries].sort((a, b) => a.file.localeCompare(b.file));
  await writeFile(MANIFEST, JSON.stringify(manifest, null, 2) + '\n');
  return manifest.length;
}

if (require.main === module) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
