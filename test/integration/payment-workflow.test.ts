/**
 * The payment workflow on a real Temporal dev server, with stubbed activities: each branch of the process, the
 * messages it accepts and refuses, and the compensations it runs.
 */
import { createEventActivities } from '../../activities/events';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import { CancelledFailure, WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import { z } from 'zod';
import type { NotificationActivities, SendInput } from '../../activities/notifications';
import type { PaymentActivities, ScreeningResult } from '../../activities/payment';
import { bundleWorkflows } from '../../temporal/bundle';
import type { paymentWorkflow } from '../../workflows/payment';
import {
  bankStatusSignal,
  cancelUpdate,
  DEFAULT_PAYMENT_TIMINGS,
  PaymentFailureType,
  PaymentStatus,
  paymentStatusQuery,
  paymentWorkflowId,
  reviewUpdate,
} from '../../workflows/payment-contract';
import type { PaymentRequest, PaymentState } from '../../workflows/payment-contract';
import type { BankOutcome } from '../../domain/payment-terms';
import { activitiesRun } from '../support/history';
import { startTestTemporal } from '../support/temporal';
import type { TestTemporal } from '../support/temporal';
import { workflowSpanSinks } from '../../temporal/tracing';

/** How the stubbed services behave for one payment. */
interface Behaviour {
  debit?: 'ok' | 'insufficient_funds' | 'unknown_account';
  aml?: ScreeningResult['decision'];
  submit?: 'ok' | 'rejected';
  /** What polling the bank answers. */
  poll?: BankOutcome | 'pending';
  /** The paying account's customer and what happens to the message telling them the outcome. */
  notify?: { channel: 'email' | 'sms'; email: 'sent' | 'rejected' | 'broken'; sms?: 'sent' | 'rejected' };
}

const TASK_QUEUE = `payment-workflow-test-${process.pid}`;
const behaviours = new Map<string, Behaviour>();
const calls = new Map<string, string[]>();

function called(paymentId: string, name: string): void {
  calls.set(paymentId, [...(calls.get(paymentId) ?? []), name]);
}

const stubActivities: PaymentActivities = {
  async debitAccount(input) {
    called(input.paymentId, 'debit');
    const mode = behaviours.get(input.paymentId)?.debit ?? 'ok';
    if (mode === 'insufficient_funds') {
      throw ApplicationFailure.nonRetryable('cannot cover', PaymentFailureType.InsufficientFunds);
    }
    if (mode === 'unknown_account') {
      throw ApplicationFailure.nonRetryable('no such account', PaymentFailureType.AccountNotFound);
    }
    return Promise.resolve({ transferId: `tr-${input.paymentId}-debit`, customerId: 'C-1' });
  },
  async reverseDebit({ paymentId }) {
    called(paymentId, 'reverse');
    const debited =
      (calls.get(paymentId) ?? []).includes('debit') &&
      behaviours.get(paymentId)?.debit !== 'insufficient_funds';
    return Promise.resolve({ transferId: debited ? `tr-${paymentId}-reversal` : null });
  },
  async screenBeneficiary(input) {
    called(input.paymentId, 'screen');
    const decision = behaviours.get(input.paymentId)?.aml ?? 'clear';
    return Promise.resolve({
      decision,
      score: decision === 'clear' ? 0.1 : 0.9,
      reasons: [],
      ...(decision === 'clear' ? {} : { matchedEntryId: 'SYN-1' }),
    });
  },
  async submitToBank(input) {
    called(input.paymentId, 'submit');
    if (behaviours.get(input.paymentId)?.submit === 'rejected') {
      throw ApplicationFailure.nonRetryable('bank says no', PaymentFailureType.BankRejected);
    }
    return Promise.resolve({ bankReference: `ref-${input.paymentId}` });
  },
  async fetchBankStatus({ paymentId }) {
    called(paymentId, 'poll');
    return Promise.resolve({ outcome: behaviours.get(paymentId)?.poll ?? 'pending' });
  },
  async settlePayment({ paymentId }) {
    called(paymentId, 'settle');
    return Promise.resolve({ transferId: `tr-${paymentId}-settlement` });
  },
};

const sentMessages: SendInput[] = [];

function paymentIdOfKey(key: string): string {
  return key.replace(/^payment:/, '').replace(/:outcome$/, '');
}

const stubNotifications: NotificationActivities = {
  async contactForAccount({ accountId }) {
    const notify = [...behaviours.entries()].find(([id, b]) => b.notify && accountId === `A-${id}`)?.[1]
      .notify;
    return Promise.resolve({ contact: notify ? { customerId: 'C-1', channel: notify.channel } : null });
  },
  async sendEmail(input) {
    const mode = behaviours.get(paymentIdOfKey(input.key))?.notify?.email ?? 'sent';
    if (mode === 'broken') throw ApplicationFailure.nonRetryable('mail relay misconfigured');
    if (mode === 'rejected')
      return Promise.resolve({ status: 'rejected' as const, reason: 'mailbox unavailable' });
    sentMessages.push(input);
    return Promise.resolve({ status: 'sent' as const, providerId: 'mail-1' });
  },
  async sendSms(input) {
    const mode = behaviours.get(paymentIdOfKey(input.key))?.notify?.sms ?? 'sent';
    if (mode === 'rejected')
      return Promise.resolve({ status: 'rejected' as const, reason: 'invalid_number' });
    sentMessages.push(input);
    return Promise.resolve({ status: 'sent' as const, providerId: 'SM1' });
  },
};

let temporal: TestTemporal;
let bundle: WorkflowBundleWithSourceMap;
let worker: Worker;
let running: Promise<void>;
let counter = 0;

function newRequest(overrides: Partial<PaymentRequest> = {}): PaymentRequest {
  counter += 1;
  return {
    paymentId: `wf-${process.pid}-${counter}`,
    fromAccountId: 'A-1',
    amountMinor: 12_34,
    currency: 'EUR',
    beneficiary: { name: 'Test Beneficiary', country: 'DE', iban: 'DE89370400440532013000' },
    timings: {
      amlReviewTimeoutMs: 60_000,
      bankStatusTimeoutMs: 60_000,
      bankPollAttempts: 2,
      bankPollIntervalMs: 100,
      needsAttentionRecheckMs: 60_000,
    },
    ...overrides,
  };
}

async function start(
  request: PaymentRequest,
  behaviour: Behaviour = {},
): Promise<WorkflowHandle<typeof paymentWorkflow>> {
  behaviours.set(request.paymentId, behaviour);
  return temporal.client.workflow.start<typeof paymentWorkflow>('paymentWorkflow', {
    workflowId: paymentWorkflowId(request.paymentId),
    taskQueue: TASK_QUEUE,
    args: [request],
  });
}

async function until(handle: WorkflowHandle, status: PaymentStatus): Promise<PaymentState> {
  return untilState(handle, (state) => state.status === status, `reached ${status}`);
}

/** Queries the run until its state satisfies `holds`. */
async function untilState(
  handle: WorkflowHandle,
  holds: (state: PaymentState) => boolean,
  what: string,
): Promise<PaymentState> {
  for (let i = 0; i < 300; i++) {
    const state = await handle.query(paymentStatusQuery);
    if (holds(state)) return state;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`payment never ${what}`);
}

function settleBy(
  handle: WorkflowHandle,
  paymentId: string,
  outcome: BankOutcome,
  eventId = `ev-${paymentId}`,
) {
  return handle.signal(bankStatusSignal, { bankReference: `ref-${paymentId}`, outcome, eventId });
}

before(async () => {
  temporal = await startTestTemporal();
  bundle = await bundleWorkflows();
  worker = await Worker.create({
    connection: temporal.nativeConnection,
    taskQueue: TASK_QUEUE,
    workflowBundle: bundle,
    sinks: workflowSpanSinks(undefined),
    activities: { ...stubActivities, ...stubNotifications, ...createEventActivities({}) },
  });
  running = worker.run();
});

after(async () => {
  worker.shutdown();
  await running;
  await temporal.stop();
});

describe('payment workflow', () => {
  test('settles a clear payment when the bank reports it settled', async () => {
    const request = newRequest();
    const handle = await start(request);
    await until(handle, PaymentStatus.Submitted);
    await settleBy(handle, request.paymentId, 'settled');
    const state = await handle.result();
    assert.equal(state.status, PaymentStatus.Settled);
    assert.equal(state.bank?.source, 'webhook');
    assert.equal(state.ledger.settlementTransferId, `tr-${request.paymentId}-settlement`);
    // AML first, then the debit: the patched order (older runs keep the first order; the replay tests prove it).
    assert.deepEqual(calls.get(request.paymentId), ['screen', 'debit', 'submit', 'settle']);
    const described = await handle.describe();
    assert.equal(described.searchAttributes.PaymentStatus?.[0], 'settled');
    assert.equal(described.searchAttributes.CustomerId?.[0], 'C-1');
    assert.equal(described.searchAttributes.AmlDecision?.[0], 'clear');
  });

  test('rejects a payment when funds are insufficient, touching nothing else', async () => {
    const request = newRequest();
    const state = await (await start(request, { debit: 'insufficient_funds' })).result();
    assert.equal(state.status, PaymentStatus.Rejected);
    assert.equal(state.reason, 'insufficient_funds');
    assert.equal(state.ledger.reversalTransferId, undefined);
    assert.deepEqual(calls.get(request.paymentId), ['screen', 'debit', 'reverse']);
  });

  test('rejects an invalid request inside the workflow without calling any activity', async () => {
    const request = newRequest({ amountMinor: -5 });
    const state = await (await start(request)).result();
    assert.equal(state.status, PaymentStatus.Rejected);
    assert.equal(state.reason, 'invalid');
    assert.equal(calls.get(request.paymentId), undefined);
  });

  test('rejects a payment from an unknown account as invalid', async () => {
    const request = newRequest();
    const state = await (await start(request, { debit: 'unknown_account' })).result();
    assert.equal(state.reason, 'invalid');
  });

  test('rejects an AML hit before any money moves', async () => {
    const request = newRequest();
    const state = await (await start(request, { aml: 'hit' })).result();
    assert.equal(state.status, PaymentStatus.Rejected);
    assert.equal(state.reason, 'aml_hit');
    assert.equal(state.ledger.debitTransferId, undefined);
    assert.deepEqual(calls.get(request.paymentId), ['screen']);
  });

  test('waits for a review and continues to settlement when it is approved', async () => {
    const request = newRequest();
    const handle = await start(request, { aml: 'review' });
    await until(handle, PaymentStatus.AwaitingAmlReview);
    const described = await handle.describe();
    assert.equal(described.searchAttributes.PaymentStatus?.[0], 'awaiting_aml_review');
    await handle.executeUpdate(reviewUpdate, {
      args: [{ decision: 'approve', reviewer: 'officer-1', note: 'ok' }],
    });
    await until(handle, PaymentStatus.Submitted);
    await settleBy(handle, request.paymentId, 'settled');
    const state = await handle.result();
    assert.equal(state.status, PaymentStatus.Settled);
    assert.equal(state.aml?.review?.outcome, 'approved');
    assert.equal(state.aml?.review?.reviewer, 'officer-1');
  });

  test('says in its current details what it waits for and when the review deadline falls, date included', async () => {
    const request = newRequest({ timings: { ...DEFAULT_PAYMENT_TIMINGS } });
    const handle = await start(request, { aml: 'review' });
    await until(handle, PaymentStatus.AwaitingAmlReview);
    // The UI reads this built-in query for its Current Details panel.
    const metadata = z
      .object({ currentDetails: z.string() })
      .parse(await handle.query('__temporal_workflow_metadata'));
    const match = /since (\d\d:\d\d:\d\d) UTC.*rejected at (\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d) UTC/s.exec(
      metadata.currentDetails,
    );
    assert.ok(match, metadata.currentDetails);
    assert.equal(match[3], match[1], 'a two-day window ends at the same time of day');
    const today = new Date().toISOString().slice(0, 10);
    assert.ok((match[2] ?? '') > today, `the deadline ${match[2]} falls on a later day`);
    await handle.executeUpdate(reviewUpdate, { args: [{ decision: 'reject', reviewer: 'officer-4' }] });
    await handle.result();
  });

  test('rejects, debiting nothing, when the review is rejected', async () => {
    const request = newRequest();
    const handle = await start(request, { aml: 'review' });
    await until(handle, PaymentStatus.AwaitingAmlReview);
    const after = await handle.executeUpdate(reviewUpdate, {
      args: [{ decision: 'reject', reviewer: 'officer-2' }],
    });
    assert.equal(after.status, PaymentStatus.Rejected);
    const state = await handle.result();
    assert.equal(state.reason, 'aml_review_rejected');
    assert.ok(!calls.get(request.paymentId)?.includes('debit'));
  });

  test('rejects when nobody reviews before the deadline', async () => {
    const request = newRequest();
    request.timings = { ...request.timings, amlReviewTimeoutMs: 500 };
    const state = await (await start(request, { aml: 'review' })).result();
    assert.equal(state.reason, 'aml_review_expired');
    assert.equal(state.aml?.review?.outcome, 'expired');
    assert.equal(state.ledger.debitTransferId, undefined);
  });

  test('refuses a review of a payment that is not awaiting one', async () => {
    const request = newRequest();
    const handle = await start(request);
    await until(handle, PaymentStatus.Submitted);
    await assert.rejects(
      handle.executeUpdate(reviewUpdate, { args: [{ decision: 'approve', reviewer: 'officer-3' }] }),
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError && /not awaiting AML review/.test(err.cause?.message ?? ''),
    );
    await settleBy(handle, request.paymentId, 'settled');
    assert.equal((await handle.result()).status, PaymentStatus.Settled);
  });

  test('reverses the debit when the bank reports a failure', async () => {
    const request = newRequest();
    const handle = await start(request);
    await until(handle, PaymentStatus.Submitted);
    await settleBy(handle, request.paymentId, 'failed');
    const state = await handle.result();
    assert.equal(state.status, PaymentStatus.Failed);
    assert.equal(state.ledger.reversalTransferId, `tr-${request.paymentId}-reversal`);
    assert.ok(!calls.get(request.paymentId)?.includes('settle'));
  });

  test('treats a returned payment as failed and reverses it', async () => {
    const request = newRequest();
    const handle = await start(request);
    await until(handle, PaymentStatus.Submitted);
    await settleBy(handle, request.paymentId, 'returned');
    assert.equal((await handle.result()).status, PaymentStatus.Failed);
  });

  test('fails and reverses when the bank refuses the submission', async () => {
    const request = newRequest();
    const state = await (await start(request, { submit: 'rejected' })).result();
    assert.equal(state.status, PaymentStatus.Failed);
    assert.ok(calls.get(request.paymentId)?.includes('reverse'));
  });

  test('asks the bank when no webhook arrives before the deadline', async () => {
    const request = newRequest();
    request.timings = { ...request.timings, bankStatusTimeoutMs: 300 };
    const state = await (await start(request, { poll: 'settled' })).result();
    assert.equal(state.status, PaymentStatus.Settled);
    assert.equal(state.bank?.source, 'poll');
  });

  test('parks in needs_attention when the bank never answers, and finishes when it finally does', async () => {
    const request = newRequest();
    request.timings = { ...request.timings, bankStatusTimeoutMs: 300 };
    const handle = await start(request, { poll: 'pending' });
    await until(handle, PaymentStatus.NeedsAttention);
    await settleBy(handle, request.paymentId, 'settled');
    assert.equal((await handle.result()).status, PaymentStatus.Settled);
  });

  test('ignores a duplicate webhook and one for another bank reference', async () => {
    const request = newRequest();
    const handle = await start(request);
    await until(handle, PaymentStatus.Submitted);
    await handle.signal(bankStatusSignal, {
      bankReference: 'someone-else',
      outcome: 'failed',
      eventId: 'other',
    });
    await settleBy(handle, request.paymentId, 'settled', 'ev-1');
    await settleBy(handle, request.paymentId, 'failed', 'ev-1');
    const state = await handle.result();
    assert.equal(state.status, PaymentStatus.Settled);
    assert.ok(!calls.get(request.paymentId)?.includes('reverse'));
    // The run settles once. The stub may still be called twice: when the duplicate lands while the worker runs the
    // task that settles and completes, the server refuses that completion (an unhandled signal) with the settlement's
    // local-activity result in it, and the retried task settles again, which the ledger's idempotency key absorbs.
    const settlements = activitiesRun(await handle.fetchHistory()).filter((a) => a.type === 'settlePayment');
    assert.equal(settlements.length, 1);
  });

  test('drops a bank status signal that is not a well-formed final status', async () => {
    const request = newRequest();
    const handle = await start(request);
    await until(handle, PaymentStatus.Submitted);
    const reference = `ref-${request.paymentId}`;
    // Sent straight to Temporal, past the webhook receiver's checks.
    const raw = handle as WorkflowHandle;
    await raw.signal('bankStatus', {
      bankReference: reference,
      outcome: 'refunded-twice',
      eventId: 'junk-1',
    });
    await raw.signal('bankStatus', { bankReference: reference, outcome: 'failed' });
    await raw.signal('bankStatus', { bankReference: 42, outcome: 'failed', eventId: 'junk-2' });
    await settleBy(handle, request.paymentId, 'settled');
    const state = await handle.result();
    assert.equal(state.status, PaymentStatus.Settled);
    assert.equal(calls.get(request.paymentId)?.includes('reverse'), false);
  });

  test('cancels a payment awaiting review, before any money moved', async () => {
    const request = newRequest();
    const handle = await start(request, { aml: 'review' });
    await until(handle, PaymentStatus.AwaitingAmlReview);
    const result = await handle.executeUpdate(cancelUpdate);
    assert.equal(result.status, PaymentStatus.Cancelled);
    const state = await handle.result();
    assert.equal(state.status, PaymentStatus.Cancelled);
    assert.deepEqual(calls.get(request.paymentId), ['screen']);
  });

  test('refuses to cancel a payment already submitted to the bank', async () => {
    const request = newRequest();
    const handle = await start(request);
    await until(handle, PaymentStatus.Submitted);
    await assert.rejects(
      handle.executeUpdate(cancelUpdate),
      (err: unknown) =>
        err instanceof WorkflowUpdateFailedError &&
        /can no longer be cancelled/.test(err.cause?.message ?? ''),
    );
    await settleBy(handle, request.paymentId, 'settled');
    assert.equal((await handle.result()).status, PaymentStatus.Settled);
  });

  test('ends cancelled, nothing moved, when the workflow is cancelled while it awaits review', async () => {
    const request = newRequest();
    const handle = await start(request, { aml: 'review' });
    await until(handle, PaymentStatus.AwaitingAmlReview);
    await handle.cancel();
    await assert.rejects(
      handle.result(),
      (err: unknown) => err instanceof WorkflowFailedError && err.cause instanceof CancelledFailure,
    );
    assert.equal((await handle.query(paymentStatusQuery)).status, PaymentStatus.Cancelled);
    assert.deepEqual(calls.get(request.paymentId), ['screen']);
  });

  test('refuses a cancellation of the workflow once the payment is at the bank, and settles it', async () => {
    const request = newRequest();
    const handle = await start(request);
    await until(handle, PaymentStatus.Submitted);
    assert.equal((await handle.query(paymentStatusQuery)).cancellationRefused, undefined);
    await handle.cancel();
    // The status says the cancellation was asked for and refused while the bank still decides.
    const { cancellationRefused: waiting } = await untilState(
      handle,
      (s) => s.cancellationRefused !== undefined,
      'noted the refused cancellation',
    );
    assert.match(waiting?.reason ?? '', /submitted; the bank decides it now/);
    await settleBy(handle, request.paymentId, 'settled');
    const state = await handle.result();
    assert.equal(state.status, PaymentStatus.Settled);
    assert.deepEqual(state.cancellationRefused, waiting);
    assert.equal(state.ledger.settlementTransferId, `tr-${request.paymentId}-settlement`);
    assert.deepEqual(calls.get(request.paymentId), ['screen', 'debit', 'submit', 'settle']);
    assert.equal((await handle.describe()).status.name, 'COMPLETED');
  });

  test('tells the customer the outcome on their channel, once', async () => {
    const request = newRequest();
    request.fromAccountId = `A-${request.paymentId}`;
    const handle = await start(request, { notify: { channel: 'sms', email: 'sent', sms: 'sent' } });
    await until(handle, PaymentStatus.Submitted);
    await settleBy(handle, request.paymentId, 'settled');
    const state = await handle.result();
    assert.deepEqual(state.notification, { outcome: 'sent_sms' });
    const sent = sentMessages.filter((m) => m.key === `payment:${request.paymentId}:outcome`);
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0]?.content, {
      kind: 'payment_outcome',
      paymentId: request.paymentId,
      outcome: 'settled',
      amount: '12.34 EUR',
    });
  });

  test('falls back to email when the SMS is refused for good', async () => {
    const request = newRequest();
    request.fromAccountId = `A-${request.paymentId}`;
    const state = await (
      await start(request, { aml: 'hit', notify: { channel: 'sms', email: 'sent', sms: 'rejected' } })
    ).result();
    assert.equal(state.reason, 'aml_hit');
    assert.equal(state.notification?.outcome, 'fell_back_to_email');
  });

  test('records a notification that cannot be delivered and keeps the outcome', async () => {
    const request = newRequest();
    request.fromAccountId = `A-${request.paymentId}`;
    const state = await (
      await start(request, { debit: 'insufficient_funds', notify: { channel: 'email', email: 'rejected' } })
    ).result();
    assert.equal(state.status, PaymentStatus.Rejected);
    assert.equal(state.reason, 'insufficient_funds');
    assert.equal(state.notification?.outcome, 'undeliverable');
    const broken = newRequest();
    broken.fromAccountId = `A-${broken.paymentId}`;
    const handle = await start(broken, { notify: { channel: 'email', email: 'broken' } });
    await until(handle, PaymentStatus.Submitted);
    await settleBy(handle, broken.paymentId, 'settled');
    const settled = await handle.result();
    assert.equal(settled.status, PaymentStatus.Settled);
    assert.equal(settled.notification?.outcome, 'undeliverable');
    assert.equal(settled.ledger.settlementTransferId, `tr-${broken.paymentId}-settlement`);
  });
});
