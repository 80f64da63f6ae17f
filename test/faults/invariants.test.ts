/**
 * The fault suite's checks are not blind: on a ledger, a bank and sinks holding exactly what a few runs should have
 * left, they find nothing; each defect planted after that (a message sent twice, a payment both settled and
 * reversed, a run that never ended, a forged webhook taken) is found and named.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { customerAccountId } from '../../domain/customer-terms';
import { startBankSimulator } from '../../local/stand-ins/bank-simulator';
import type { BankSimulator } from '../../local/stand-ins/bank-simulator';
import { BankClient } from '../../services/bank';
import { CustomerStore } from '../../services/customers';
import { Ledger } from '../../services/ledger';
import { Mailer, renderSmsText } from '../../services/mail';
import { startSmtpSink } from '../../local/stand-ins/smtp-sink';
import type { SmtpSink } from '../../local/stand-ins/smtp-sink';
import { SendLog } from '../../services/send-log/send-log';
import { TwilioSms } from '../../services/sms';
import { startLocalTwilio } from '../../local/stand-ins/local-twilio';
import type { LocalTwilio } from '../../local/stand-ins/local-twilio';
import { checkInvariants } from './harness/invariants';
import type { CheckSources, ForgedWebhook } from './harness/invariants';
import { planLoad, Progress, seedPayers } from './harness/load';
import type { LoadPlan, PlannedPayment, PlannedRegistration } from './harness/load';
import { Rng } from './harness/random';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';

const SID = 'AC0c4ec400000000000000000000000000';
const TOKEN = 'checker-twilio-token';
const schema = uniqueSchema('faults_check');
let ledger: Ledger;
let bank: BankSimulator;
let mailSink: SmtpSink;
let smsSink: LocalTwilio;
let mailer: Mailer;
let sms: TwilioSms;
let sources: CheckSources;
let plan: LoadPlan;
let progress: Progress;
const forged: ForgedWebhook[] = [];

function first<T>(items: readonly T[], what: string): T {
  const item = items[0];
  if (item === undefined) throw new Error(`the plan has no ${what}`);
  return item;
}

async function sendEmail(key: string): Promise<void> {
  await mailer.send({
    to: 'someone@checks.example.com',
    message: { kind: 'welcome', name: 'Check', customerId: 'C-1', accountId: 'A-1', currency: 'EUR' },
    idempotencyKey: key,
  });
}

async function sendSms(to: string, body: string): Promise<void> {
  await sms.send({ to, body });
}

/** Books what a finished payment leaves behind: its transfers, its bank record, its outcome message. */
async function complete(payment: PlannedPayment, status: 'settled' | 'failed' | 'rejected'): Promise<void> {
  const { id, request } = payment;
  if (status !== 'rejected') {
    const client = new BankClient({ baseUrl: bank.url });
    await client.submitPayment({
      paymentId: id,
      amountMinor: request.amountMinor,
      currency: request.currency,
      beneficiary: request.beneficiary,
    });
    await ledger.transfer({
      idempotencyKey: `${id}:debit`,
      fromAccountId: payment.payer.accountId,
      toAccountId: Ledger.systemAccountId('clearing', request.currency),
      amountMinor: request.amountMinor,
      currency: request.currency,
    });
  }
  if (status === 'settled') {
    await ledger.transfer({
      idempotencyKey: `${id}:settlement`,
      fromAccountId: Ledger.systemAccountId('clearing', request.currency),
      toAccountId: Ledger.systemAccountId('settlement', request.currency),
      amountMinor: request.amountMinor,
      currency: request.currency,
    });
  }
  if (status === 'failed') {
    await ledger.reverse({ idempotencyKey: `${id}:debit-reversal`, originalIdempotencyKey: `${id}:debit` });
  }
  const key = `${payment.workflowId}:outcome`;
  if (payment.payer.channel === 'email') await sendEmail(key);
  else if (payment.payer.phone !== null) await sendSms(payment.payer.phone, `baton: done. Ref ${id}.`);
  progress.accepted.set(payment.workflowId, Date.now());
  progress.markEnded(payment.workflowId, { at: Date.now(), status });
}

async function register(registration: PlannedRegistration): Promise<void> {
  const customers = new CustomerStore(ledger.database);
  const { request, customerId } = registration;
  await customers.create({ ...request, phone: request.phone ?? null });
  await ledger.ensureSystemAccounts(request.currency);
  await ledger.openAccount({
    id: customerAccountId(customerId, request.currency),
    kind: 'customer',
    customerId,
    currency: request.currency,
  });
  if (registration.route === 'sms' && request.phone !== undefined) {
    const body = renderSmsText({
      kind: 'welcome',
      name: request.name,
      customerId,
      accountId: customerAccountId(customerId, request.currency),
      currency: request.currency,
    });
    await sendSms(request.phone, body);
  } else {
    await sendEmail(`${registration.workflowId}:welcome`);
  }
  progress.accepted.set(registration.workflowId, Date.now());
  progress.markEnded(registration.workflowId, { at: Date.now(), status: 'completed' });
}

before(async () => {
  ledger = await Ledger.open({ databaseUrl: TEST_DATABASE_URL, schema, poolSize: 2 });
  bank = await startBankSimulator({
    webhookUrl: 'http://127.0.0.1:9/webhooks/bank',
    webhookSecret: 'checker-webhook-secret-0001',
    defaultDelayMs: 60 * 60_000,
  });
  mailSink = await startSmtpSink();
  smsSink = await startLocalTwilio({ accountSid: SID, authToken: TOKEN });
  mailer = new Mailer({ smtpUrl: mailSink.url, from: 'baton <no-reply@baton.local>', pool: false });
  sms = new TwilioSms({ accountSid: SID, authToken: TOKEN, from: '+15005550006', apiBaseUrl: smsSink.url });
  sources = { ledger, sendLog: new SendLog(ledger.database), bank, mailSink, smsSink };

  const full = planLoad('ck', new Rng(42));
  const settled = [pick('settle', 'email'), pick('settle', 'sms')];
  const failed = pick('fail', 'email');
  const rejected = first(
    full.payments.filter((p) => p.kind === 'aml_hit' && p.payer.channel === 'email'),
    'AML hit',
  );
  const registrations = [
    first(
      full.registrations.filter((r) => r.route === 'email'),
      'email registration',
    ),
    first(
      full.registrations.filter((r) => r.route === 'sms'),
      'SMS registration',
    ),
  ];
  function pick(kind: PlannedPayment['kind'], channel: 'email' | 'sms'): PlannedPayment {
    return first(
      full.payments.filter((p) => p.kind === kind && p.payer.channel === channel),
      `${kind} payment by ${channel}`,
    );
  }
  plan = {
    ...full,
    payments: [...settled, failed, rejected],
    registrations,
    tight: { ...full.tight, covers: 0 },
  };
  progress = new Progress(plan.payments.length + plan.registrations.length);
  await seedPayers({ customers: new CustomerStore(ledger.database), ledger }, plan.payers);
  for (const p of settled) {
    bank.setScenario(p.id, { outcome: 'settled' });
    await complete(p, 'settled');
  }
  bank.setScenario(failed.id, { outcome: 'failed' });
  await complete(failed, 'failed');
  await complete(rejected, 'rejected');
  for (const r of registrations) await register(r);
});

after(async () => {
  mailer.close();
  await smsSink.close();
  await mailSink.close();
  await bank.close();
  await ledger.close();
  await dropSchema(schema);
});

describe('the fault suite checks', () => {
  it('find nothing wrong when every run left exactly its effects', async () => {
    const result = await checkInvariants(sources, plan, progress, forged);
    assert.deepEqual(result.violations, []);
    assert.equal(result.lost, 0);
    assert.equal(result.duplicated, 0);
    assert.equal(result.messages.delivered, result.messages.purposes);
  });

  it('count a second copy of an email with the same Message-ID as one delivery', async () => {
    const registration = first(plan.registrations, 'registration');
    await sendEmail(`${registration.workflowId}:welcome`);
    const result = await checkInvariants(sources, plan, progress, forged);
    assert.deepEqual(result.violations, []);
    assert.equal(result.messages.emailCopies, 1);
  });

  it('find an SMS delivered twice for one purpose', async () => {
    const registration = plan.registrations[1];
    assert.ok(registration?.request.phone !== undefined);
    const original = smsSink.messages().find((m) => m.to === registration.request.phone);
    assert.ok(original);
    await sendSms(registration.request.phone, original.body);
    const result = await checkInvariants(sources, plan, progress, forged);
    const found = result.violations.filter((v) => v.invariant === 'messageAtMostOnce');
    assert.equal(found.length, 1, JSON.stringify(result.violations));
    assert.ok(found[0]?.subject.includes(registration.id));
    assert.equal(found[0]?.kind, 'duplicated');
    assert.equal(result.duplicated, 1);
  });

  it('find a failed payment that was also settled, and the money that went with it', async () => {
    const failed = first(
      plan.payments.filter((p) => p.kind === 'fail'),
      'failed payment',
    );
    const { currency, amountMinor } = failed.request;
    await ledger.transfer({
      idempotencyKey: `${failed.id}:settlement`,
      fromAccountId: Ledger.systemAccountId('clearing', currency),
      toAccountId: Ledger.systemAccountId('settlement', currency),
      amountMinor,
      currency,
    });
    const result = await checkInvariants(sources, plan, progress, forged);
    const about = result.violations.filter((v) => v.subject.includes(failed.id));
    assert.deepEqual(
      about.map((v) => [v.invariant, v.kind]),
      [
        ['settleOrReverseOnce', 'duplicated'],
        ['ledgerMatchesOutcome', 'duplicated'],
      ],
      JSON.stringify(result.violations),
    );
    const clearing = Ledger.systemAccountId('clearing', currency);
    assert.ok(result.violations.some((v) => v.invariant === 'balancesMatch' && v.subject.includes(clearing)));
  });

  it('count a run that never ended, or ended in the wrong status, as lost', async () => {
    const [settled, other] = plan.payments;
    assert.ok(settled !== undefined && other !== undefined);
    progress.ended.delete(settled.workflowId);
    progress.ended.set(other.workflowId, { at: Date.now(), status: 'failed' });
    const result = await checkInvariants(sources, plan, progress, forged);
    assert.equal(result.lost, 2, JSON.stringify(result.violations));
    assert.ok(result.violations.some((v) => v.invariant === 'finished' && v.subject.includes(settled.id)));
    assert.ok(result.violations.some((v) => v.invariant === 'outcome' && v.subject.includes(other.id)));
  });

  it('find an orphan the watchdog missed, one it made up, a healthy run it reported, and one left open', async () => {
    const [healthy] = plan.payments;
    assert.ok(healthy !== undefined);
    const result = await checkInvariants(sources, plan, progress, forged, {
      operated: new Map(),
      resolutions: new Map(),
      orphans: {
        expected: ['orphan-missed'],
        found: [healthy.id],
        otherFindings: [`payment_stuck ${healthy.id}`],
        openAfterResolution: 1,
      },
    });
    const watchdog = result.violations.filter((v) => v.invariant === 'watchdogFindsOrphans');
    assert.deepEqual(
      watchdog.map((v) => [v.subject, v.detail]),
      [
        ['payment orphan-missed', 'an orphan the watchdog missed'],
        [`payment ${healthy.id}`, 'reported as orphaned, and it is not'],
        [`payment_stuck ${healthy.id}`, 'reported once every run but the orphans had ended'],
        ['watchdog', '1 orphaned_debit finding(s) still open after every orphan was resolved'],
      ],
      JSON.stringify(result.violations),
    );
  });

  it('find a forged webhook the receiver took', async () => {
    const payment = first(plan.payments, 'payment');
    forged.push({ paymentId: payment.id, variant: 'wrong_secret', httpStatus: 200, beforeBankDecided: true });
    const result = await checkInvariants(sources, plan, progress, forged);
    assert.ok(
      result.violations.some((v) => v.invariant === 'forgedIgnored' && v.subject.includes(payment.id)),
    );
  });
});
