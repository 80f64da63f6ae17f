/**
 * The demo scenarios: one payment per branch of the process, run against a live stack, each checked against the
 * outcome it must reach; then the ledger itself is checked, not the workflows' word for it.
 */
import type { Client } from '@temporalio/client';
import type { BankSimulator } from './stand-ins/bank-simulator';
import { customerIdFor } from '../services/customers';
import { messageIdFor } from '../services/mail';
import type { SmtpSink } from './stand-ins/smtp-sink';
import type { LocalTwilio } from './stand-ins/local-twilio';
import { customerAccountId } from '../domain/customer-terms';
import type { RegistrationRequest, RegistrationState } from '../workflows/registration-contract';
import { startRegistration } from '../client/registrations';
import type { LocalStack } from './stack';
import { AML_DEMO_NAMES } from './demo-names';
import { Ledger } from '../services/ledger';
import { formatMoney } from '../domain/money';
import type { Currency } from '../domain/money';
import { PaymentStatus } from '../workflows/payment-contract';
import type { PaymentRequest, PaymentState, PaymentTimings } from '../workflows/payment-contract';
import { cancelPayment, paymentState, reviewPayment, startPayment } from '../client/payments';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { KeyRing } from '../config/key-ring';
import { createCloudEvent, encodeCloudEvent, EVENT_KINDS, STREAMS } from '../services/bus';
import type { EventKind, MessageBus, StreamName } from '../services/bus';
import { paymentWorkflowId } from '../workflows/payment-contract';
import { registrationWorkflowId } from '../workflows/registration-contract';

/** What a scenario needs from the stack it runs on. */
export interface ScenarioContext {
  client: Client;
  ledger: Ledger;
  /** What the mail and SMS sinks have received, to count messages and find duplicates. */
  mailSink: Pick<SmtpSink, 'messages'>;
  smsSink: Pick<LocalTwilio, 'messages'>;
  bank: Pick<BankSimulator, 'setScenario'>;
  taskQueue: string;
  /** The bus the command consumer reads and the workflows publish their domain events on. */
  bus: MessageBus;
  /** The key ring personal fields on the bus are sealed with. */
  codecKeys: KeyRing;
  /** Makes payment ids unique to this run, so the demo can run again on the same data. */
  runTag: string;
  log: (line: string) => void;
}

/** One scenario's verdict. */
export interface ScenarioResult {
  name: string;
  ok: boolean;
  expected: string;
  actual: string;
  paymentIds: string[];
}

/** The whole demo's verdict, as `npm run demo -- --json` prints it. */
export interface DemoReport {
  ok: boolean;
  scenarios: Omit<ScenarioResult, 'paymentIds'>[];
  ledger: { sum: number; ok: boolean; problems: string[] };
  messages: {
    email: { received: number; duplicated: number };
    sms: { received: number; duplicated: number };
    ok: boolean;
    problems: string[];
  };
}

interface Scenario {
  name: string;
  expected: string;
  /** Net change each account must show once the scenario is over (given the run's id maker). */
  ledgerDelta: Record<string, number> | ((id: (suffix: string) => string) => Record<string, number>);
  /** Registrations whose welcome the sinks must hold exactly once. */
  welcomes?: (id: (suffix: string) => string) => string[];
  run(
    ctx: ScenarioContext,
    paymentId: (suffix: string) => string,
  ): Promise<{ actual: string; paymentIds: string[] }>;
}

// Short waits so the demo finishes in seconds; production defaults are hours and days.
const DEMO_TIMINGS: PaymentTimings = {
  amlReviewTimeoutMs: 5 * 60_000,
  bankStatusTimeoutMs: 30_000,
  bankPollAttempts: 3,
  bankPollIntervalMs: 5_000,
  needsAttentionRecheckMs: 60_000,
};

const RICH_EUR = 'A-1001-EUR';
const POOR_EUR = 'A-1002-EUR';
const USD = 'A-1003-USD';

function request(
  paymentId: string,
  fromAccountId: string,
  amountMinor: number,
  currency: Currency,
  name: string,
): PaymentRequest {
  return {
    paymentId,
    fromAccountId,
    amountMinor,
    currency,
    beneficiary: { name, country: 'DE', iban: 'DE89370400440532013000' },
    timings: DEMO_TIMINGS,
  };
}

/** What happened to the money of a payment that did not settle, as the ledger transfers show it. */
function moneyEffect(state: PaymentState): string {
  if (state.ledger.debitTransferId === undefined) return 'nothing debited';
  return state.ledger.reversalTransferId === undefined ? 'debit NOT reversed' : 'debit reversed';
}

function outcome(state: PaymentState): string {
  return state.reason ? `${state.status}:${state.reason}` : state.status;
}

async function waitForStatus(ctx: ScenarioContext, paymentId: string, status: PaymentStatus): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const state = await paymentState(ctx.client, paymentId).catch(() => undefined);
    if (state?.status === status) return;
    if (Date.now() > deadline) {
      throw new Error(
        `payment ${paymentId} did not reach ${status} (last seen: ${state?.status ?? 'nothing'})`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function payAndWait(ctx: ScenarioContext, req: PaymentRequest): Promise<PaymentState> {
  const started = await startPayment(ctx.client, req, ctx.taskQueue);
  return started.handle.result();
}

const settlement = (currency: string) => Ledger.systemAccountId('settlement', currency);

/** Every demo scenario, in the order the README lists them. */
export const SCENARIOS: readonly Scenario[] = [
  {
    name: 'settled',
    expected: 'settled',
    ledgerDelta: { [RICH_EUR]: -25_00, [settlement('EUR')]: 25_00 },
    async run(ctx, id) {
      const paymentId = id('settled');
      ctx.bank.setScenario(paymentId, { outcome: 'settled', delayMs: 500 });
      const state = await payAndWait(ctx, request(paymentId, RICH_EUR, 25_00, 'EUR', AML_DEMO_NAMES.clear));
      return { actual: outcome(state), paymentIds: [paymentId] };
    },
  },
  {
    name: 'insufficient funds',
    expected: 'rejected:insufficient_funds, no ledger change',
    ledgerDelta: {},
    async run(ctx, id) {
      const paymentId = id('no-funds');
      const state = await payAndWait(ctx, request(paymentId, POOR_EUR, 500_00, 'EUR', AML_DEMO_NAMES.clear));
      const moved = state.ledger.debitTransferId !== undefined;
      return {
        actual: `${outcome(state)}${moved ? ', ledger changed' : ', no ledger change'}`,
        paymentIds: [paymentId],
      };
    },
  },
  {
    name: 'AML hit, before any money moves',
    expected: 'rejected:aml_hit, nothing debited',
    ledgerDelta: {},
    async run(ctx, id) {
      const paymentId = id('aml-hit');
      const state = await payAndWait(ctx, request(paymentId, RICH_EUR, 30_00, 'EUR', AML_DEMO_NAMES.hit));
      return {
        actual: `${outcome(state)}, ${moneyEffect(state)}`,
        paymentIds: [paymentId],
      };
    },
  },
  {
    name: 'AML review approved, then settled',
    expected: 'settled',
    ledgerDelta: { [RICH_EUR]: -40_00, [settlement('EUR')]: 40_00 },
    async run(ctx, id) {
      const paymentId = id('review');
      ctx.bank.setScenario(paymentId, { outcome: 'settled', delayMs: 500 });
      const started = await startPayment(
        ctx.client,
        request(paymentId, RICH_EUR, 40_00, 'EUR', AML_DEMO_NAMES.review),
        ctx.taskQueue,
      );
      await waitForStatus(ctx, paymentId, PaymentStatus.AwaitingAmlReview);
      await reviewPayment(ctx.client, paymentId, {
        decision: 'approve',
        reviewer: 'demo-officer',
        note: 'documents checked',
      });
      return { actual: outcome(await started.handle.result()), paymentIds: [paymentId] };
    },
  },
  {
    name: 'bank reports failure',
    expected: 'failed, debit reversed',
    ledgerDelta: {},
    async run(ctx, id) {
      const paymentId = id('bank-fail');
      ctx.bank.setScenario(paymentId, { outcome: 'failed', delayMs: 500 });
      const state = await payAndWait(ctx, request(paymentId, RICH_EUR, 15_00, 'EUR', AML_DEMO_NAMES.clear));
      return {
        actual: `${outcome(state)}, ${moneyEffect(state)}`,
        paymentIds: [paymentId],
      };
    },
  },
  {
    name: 'cancelled before submission',
    expected: 'cancelled, nothing debited',
    ledgerDelta: {},
    async run(ctx, id) {
      const paymentId = id('cancel');
      const started = await startPayment(
        ctx.client,
        request(paymentId, RICH_EUR, 20_00, 'EUR', AML_DEMO_NAMES.review),
        ctx.taskQueue,
      );
      await waitForStatus(ctx, paymentId, PaymentStatus.AwaitingAmlReview);
      await cancelPayment(ctx.client, paymentId);
      const state = await started.handle.result();
      return {
        actual: `${outcome(state)}, ${moneyEffect(state)}`,
        paymentIds: [paymentId],
      };
    },
  },
  {
    name: 'same payment id submitted twice',
    expected: 'settled, one run, one debit',
    ledgerDelta: { [USD]: -10_00, [settlement('USD')]: 10_00 },
    async run(ctx, id) {
      const paymentId = id('twice');
      ctx.bank.setScenario(paymentId, { outcome: 'settled', delayMs: 500 });
      const req = request(paymentId, USD, 10_00, 'USD', AML_DEMO_NAMES.clear);
      const [first, second] = await Promise.all([
        startPayment(ctx.client, req, ctx.taskQueue),
        startPayment(ctx.client, req, ctx.taskQueue),
      ]);
      const state = await first.handle.result();
      const third = await startPayment(ctx.client, req, ctx.taskQueue);
      const runs = new Set([first.runId, second.runId, third.runId]).size;
      const debits = (await ctx.ledger.listTransfers()).filter(
        (t) => t.idempotencyKey === `${paymentId}:debit`,
      ).length;
      return {
        actual: `${outcome(state)}, ${runs === 1 ? 'one run' : `${runs} runs`}, ${debits === 1 ? 'one debit' : `${debits} debits`}`,
        paymentIds: [paymentId],
      };
    },
  },
];

function registrationRequest(
  registrationId: string,
  channel: 'email' | 'sms',
  phone?: string,
  email = `${registrationId}@example.com`,
): RegistrationRequest {
  return {
    registrationId,
    name: 'Demo Newcomer',
    email,
    ...(phone === undefined ? {} : { phone }),
    channel,
    currency: 'EUR',
  };
}

async function registerAndWait(ctx: ScenarioContext, req: RegistrationRequest): Promise<RegistrationState> {
  const started = await startRegistration(ctx.client, req, ctx.taskQueue);
  return started.handle.result();
}

function registrationOutcome(state: RegistrationState): string {
  return state.reason
    ? `${state.status}:${state.reason}`
    : `${state.status}, ${state.welcome ?? 'no welcome'}`;
}

const JOURNEY_FUNDING = 100_00;
const JOURNEY_PAYMENT = 25_00;
const journeyAccount = (id: (suffix: string) => string) =>
  customerAccountId(customerIdFor(id('journey')), 'EUR');

/** The registration scenarios, then the whole journey from registration to a payment's outcome message. */
const REGISTRATION_SCENARIOS: readonly Scenario[] = [
  {
    name: 'welcome by email',
    expected: 'completed, sent_email',
    ledgerDelta: {},
    welcomes: (id) => [id('reg-email')],
    async run(ctx, id) {
      const registrationId = id('reg-email');
      const state = await registerAndWait(ctx, registrationRequest(registrationId, 'email'));
      return { actual: registrationOutcome(state), paymentIds: [] };
    },
  },
  {
    name: 'welcome by SMS',
    expected: 'completed, sent_sms',
    ledgerDelta: {},
    welcomes: (id) => [id('reg-sms')],
    async run(ctx, id) {
      const registrationId = id('reg-sms');
      const state = await registerAndWait(ctx, registrationRequest(registrationId, 'sms', '+4915112345678'));
      return { actual: registrationOutcome(state), paymentIds: [] };
    },
  },
  {
    name: 'SMS to an invalid number falls back to email',
    expected: 'completed, fell_back_to_email',
    ledgerDelta: {},
    welcomes: (id) => [id('reg-fallback')],
    async run(ctx, id) {
      const registrationId = id('reg-fallback');
      // Twilio's documented test number for "not a valid phone number" (error 21211).
      const state = await registerAndWait(ctx, registrationRequest(registrationId, 'sms', '+15005550001'));
      return { actual: registrationOutcome(state), paymentIds: [] };
    },
  },
  {
    name: 'duplicate email rejected',
    expected: 'rejected:duplicate_email',
    ledgerDelta: {},
    welcomes: (id) => [id('reg-first')],
    async run(ctx, id) {
      const email = `${id('reg-first')}@example.com`;
      await registerAndWait(ctx, registrationRequest(id('reg-first'), 'email', undefined, email));
      const again = await registerAndWait(
        ctx,
        registrationRequest(id('reg-again'), 'email', undefined, email.toUpperCase()),
      );
      return { actual: registrationOutcome(again), paymentIds: [] };
    },
  },
  {
    name: 'register, pay, hear the outcome by SMS',
    expected: 'completed, sent_sms; payment settled; outcome sent_sms',
    ledgerDelta: (id) => ({
      [journeyAccount(id)]: JOURNEY_FUNDING - JOURNEY_PAYMENT,
      [Ledger.systemAccountId('funding', 'EUR')]: -JOURNEY_FUNDING,
      [settlement('EUR')]: JOURNEY_PAYMENT,
    }),
    welcomes: (id) => [id('journey')],
    async run(ctx, id) {
      const registration = await registerAndWait(
        ctx,
        registrationRequest(id('journey'), 'sms', '+4915198765432'),
      );
      if (registration.accountId === undefined) {
        return { actual: registrationOutcome(registration), paymentIds: [] };
      }
      // A deposit, as a bank transfer into the new account would book it.
      await ctx.ledger.transfer({
        idempotencyKey: `deposit:${registration.accountId}`,
        fromAccountId: Ledger.systemAccountId('funding', 'EUR'),
        toAccountId: registration.accountId,
        amountMinor: JOURNEY_FUNDING,
        currency: 'EUR',
      });
      const paymentId = id('journey-pay');
      ctx.bank.setScenario(paymentId, { outcome: 'settled', delayMs: 500 });
      const payment = await payAndWait(
        ctx,
        request(paymentId, registration.accountId, JOURNEY_PAYMENT, 'EUR', AML_DEMO_NAMES.clear),
      );
      return {
        actual: `${registrationOutcome(registration)}; payment ${outcome(payment)}; outcome ${payment.notification?.outcome ?? 'not sent'}`,
        paymentIds: [paymentId],
      };
    },
  },
];

/** Publishes a command event as another domain's system would: sealed personal fields, a correlation id. */
async function publishCommand(
  ctx: ScenarioContext,
  kind: EventKind,
  subject: string,
  data: Record<string, unknown>,
  ids: { eventId: string; correlationId: string },
): Promise<{ duplicate: boolean }> {
  const event = createCloudEvent(ctx.codecKeys, kind, {
    id: ids.eventId,
    subject,
    correlationId: ids.correlationId,
    time: new Date().toISOString(),
    source: 'urn:baton:demo',
    data,
  });
  return ctx.bus.publish(kind.subject, encodeCloudEvent(event), { messageId: ids.eventId });
}

/** The events of one stream, as JSON, that `matches` picks; a message that is not JSON is skipped. */
async function eventsIn(
  ctx: ScenarioContext,
  stream: StreamName,
  matches: (event: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>[]> {
  const found: Record<string, unknown>[] = [];
  for await (const message of ctx.bus.read(stream)) {
    try {
      const event = JSON.parse(Buffer.from(message.body).toString('utf8')) as Record<string, unknown>;
      if (matches(event)) found.push(event);
    } catch {
      // Not JSON: a hostile command kept in its stream, never an event.
    }
  }
  return found;
}

/** Waits for the run a command started, then for its result. */
async function resultOfCommand<T>(ctx: ScenarioContext, workflowId: string): Promise<T> {
  const handle = ctx.client.workflow.getHandle(workflowId);
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await handle.describe();
      return (await handle.result()) as T;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) || Date.now() > deadline) throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Listens on the domain events as another domain's consumer would, until one matches or a minute passed. */
async function hear(
  ctx: ScenarioContext,
  matches: (event: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown> | undefined> {
  const stop = new AbortController();
  const timer = setTimeout(() => stop.abort(), 60_000);
  try {
    for await (const message of ctx.bus.read(STREAMS.events, { follow: true, signal: stop.signal })) {
      const event = JSON.parse(Buffer.from(message.body).toString('utf8')) as Record<string, unknown>;
      if (matches(event)) return event;
    }
    return undefined;
  } finally {
    clearTimeout(timer);
    stop.abort();
  }
}

const BUS_PAYMENT = 12_50;
const BUS_TWICE = 7_00;

/** A payment command's data: the `pay` request, without demo timings, which a command may not carry. */
function paymentCommandData(paymentId: string, amountMinor: number): Record<string, unknown> {
  const { timings: _timings, ...data } = request(
    paymentId,
    RICH_EUR,
    amountMinor,
    'EUR',
    AML_DEMO_NAMES.clear,
  );
  return data;
}

const count = (n: number, one: string, many: string) => (n === 1 ? `one ${one}` : `${n} ${many}`);

/** Commands arriving on the bus, and the domain events the runs they start publish. */
const BUS_SCENARIOS: readonly Scenario[] = [
  {
    name: 'payment started by a command event',
    expected: 'settled; payment.settled event with its correlation id',
    ledgerDelta: { [RICH_EUR]: -BUS_PAYMENT, [settlement('EUR')]: BUS_PAYMENT },
    async run(ctx, id) {
      const paymentId = id('bus-pay');
      const correlationId = id('order');
      ctx.bank.setScenario(paymentId, { outcome: 'settled', delayMs: 500 });
      await publishCommand(
        ctx,
        EVENT_KINDS.paymentRequested,
        paymentId,
        paymentCommandData(paymentId, BUS_PAYMENT),
        {
          eventId: id('bus-pay-command'),
          correlationId,
        },
      );
      const state = await resultOfCommand<PaymentState>(ctx, paymentWorkflowId(paymentId));
      const settled = await eventsIn(
        ctx,
        STREAMS.events,
        (e) => e.type === EVENT_KINDS.paymentSettled.type && e.subject === paymentId,
      );
      const event =
        settled.length === 0
          ? 'no payment.settled event'
          : settled.every((e) => e.correlationid === correlationId)
            ? 'payment.settled event with its correlation id'
            : 'payment.settled event with another correlation id';
      return { actual: `${outcome(state)}; ${event}`, paymentIds: [paymentId] };
    },
  },
  {
    name: 'same command published twice',
    expected: 'settled, one run, one debit, one event',
    ledgerDelta: { [RICH_EUR]: -BUS_TWICE, [settlement('EUR')]: BUS_TWICE },
    async run(ctx, id) {
      const paymentId = id('bus-twice');
      ctx.bank.setScenario(paymentId, { outcome: 'settled', delayMs: 500 });
      const data = paymentCommandData(paymentId, BUS_TWICE);
      const correlationId = id('order-twice');
      // The same event twice (the broker keeps one), then the same payment under a new event id (the run is one).
      await publishCommand(ctx, EVENT_KINDS.paymentRequested, paymentId, data, {
        eventId: id('twice-1'),
        correlationId,
      });
      await publishCommand(ctx, EVENT_KINDS.paymentRequested, paymentId, data, {
        eventId: id('twice-1'),
        correlationId,
      });
      await publishCommand(ctx, EVENT_KINDS.paymentRequested, paymentId, data, {
        eventId: id('twice-2'),
        correlationId,
      });
      const state = await resultOfCommand<PaymentState>(ctx, paymentWorkflowId(paymentId));
      // The consumer has read all three once the run's outcome is out: wait for its backlog to drain.
      await drained(ctx);
      const { count: runs } = await ctx.client.workflow.count(
        `WorkflowId = '${paymentWorkflowId(paymentId)}'`,
      );
      const debits = (await ctx.ledger.listTransfers()).filter(
        (t) => t.idempotencyKey === `${paymentId}:debit`,
      ).length;
      const events = (await eventsIn(ctx, STREAMS.events, (e) => e.subject === paymentId)).length;
      return {
        actual: `${outcome(state)}, ${count(runs, 'run', 'runs')}, ${count(debits, 'debit', 'debits')}, ${count(events, 'event', 'events')}`,
        paymentIds: [paymentId],
      };
    },
  },
  {
    name: 'malformed command dead-lettered',
    expected: 'dead-lettered naming data.amountMinor, no run',
    ledgerDelta: {},
    async run(ctx, id) {
      const paymentId = id('bus-bad');
      const eventId = id('bus-bad-command');
      await publishCommand(
        ctx,
        EVENT_KINDS.paymentRequested,
        paymentId,
        { ...paymentCommandData(paymentId, 100), amountMinor: 12.5 },
        { eventId, correlationId: id('order-bad') },
      );
      let letters: Record<string, unknown>[] = [];
      for (let i = 0; i < 300 && letters.length === 0; i++) {
        letters = await eventsIn(
          ctx,
          STREAMS.deadLetters,
          (e) => (e.data as { commandId?: unknown } | undefined)?.commandId === eventId,
        );
        if (letters.length === 0) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const found = (letters[0]?.data as { reason?: unknown } | undefined)?.reason;
      const reason = typeof found === 'string' ? found : '';
      const run = await ctx.client.workflow
        .getHandle(paymentWorkflowId(paymentId))
        .describe()
        .then(
          () => 'a run started',
          () => 'no run',
        );
      const letter =
        letters.length === 0
          ? 'no dead letter'
          : reason.includes('data: amountMinor')
            ? 'dead-lettered naming data.amountMinor'
            : `dead-lettered: ${reason}`;
      return { actual: `${letter}, ${run}`, paymentIds: [] };
    },
  },
  {
    name: 'registration completed, heard by another domain',
    expected: 'completed, sent_email; registration.completed heard with its correlation id',
    ledgerDelta: {},
    welcomes: (id) => [id('reg-bus')],
    async run(ctx, id) {
      const registrationId = id('reg-bus');
      const correlationId = id('onboarding');
      const heard = hear(
        ctx,
        (e) => e.type === EVENT_KINDS.registrationCompleted.type && e.subject === registrationId,
      );
      await publishCommand(
        ctx,
        EVENT_KINDS.registrationRequested,
        registrationId,
        { ...registrationRequest(registrationId, 'email') },
        { eventId: id('reg-bus-command'), correlationId },
      );
      const state = await resultOfCommand<RegistrationState>(ctx, registrationWorkflowId(registrationId));
      const event = await heard;
      const what =
        event === undefined
          ? 'no registration.completed heard'
          : event.correlationid === correlationId
            ? 'registration.completed heard with its correlation id'
            : 'registration.completed heard with another correlation id';
      return { actual: `${registrationOutcome(state)}; ${what}`, paymentIds: [] };
    },
  },
];

/** Waits until the command consumer has nothing left to read or acknowledge. */
async function drained(ctx: ScenarioContext): Promise<void> {
  for (let i = 0; i < 300; i++) {
    const backlog = await ctx.bus.commandBacklog();
    if (backlog.pending === 0 && backlog.unacknowledged === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Runs every scenario at once, then checks the ledger against what their outcomes imply. */
export async function runScenarios(ctx: ScenarioContext): Promise<DemoReport> {
  const before = new Map((await ctx.ledger.listAccounts()).map((a) => [a.id, a.balance]));
  const mailBefore = ctx.mailSink.messages().length;
  const smsBefore = ctx.smsSink.messages().length;
  const id = (suffix: string) => `demo-${ctx.runTag}-${suffix}`;
  const scenarios = [...SCENARIOS, ...REGISTRATION_SCENARIOS, ...BUS_SCENARIOS];
  const results = await Promise.all(
    scenarios.map(async (scenario): Promise<ScenarioResult> => {
      try {
        const { actual, paymentIds } = await scenario.run(ctx, id);
        ctx.log(`  ${actual === scenario.expected ? 'ok  ' : 'FAIL'} ${scenario.name}: ${actual}`);
        return {
          name: scenario.name,
          ok: actual === scenario.expected,
          expected: scenario.expected,
          actual,
          paymentIds,
        };
      } catch (err) {
        const actual = `error: ${err instanceof Error ? err.message : String(err)}`;
        ctx.log(`  FAIL ${scenario.name}: ${actual}`);
        return { name: scenario.name, ok: false, expected: scenario.expected, actual, paymentIds: [] };
      }
    }),
  );

  const after = await ctx.ledger.listAccounts();
  const problems: string[] = [];
  const expectedDelta = new Map<string, number>();
  for (const scenario of scenarios) {
    const deltas =
      typeof scenario.ledgerDelta === 'function' ? scenario.ledgerDelta(id) : scenario.ledgerDelta;
    for (const [account, delta] of Object.entries(deltas)) {
      expectedDelta.set(account, (expectedDelta.get(account) ?? 0) + delta);
    }
  }
  for (const account of after) {
    const delta = account.balance - (before.get(account.id) ?? 0);
    const expected = expectedDelta.get(account.id) ?? 0;
    if (delta !== expected) {
      problems.push(
        `${account.id} moved ${formatMoney(delta, account.currency)}, expected ${formatMoney(expected, account.currency)}`,
      );
    }
  }
  const totals = await ctx.ledger.balanceTotals();
  const sum = totals.reduce((acc, t) => acc + Math.abs(t.sum), 0);
  if (sum !== 0)
    problems.push(`balances do not sum to zero: ${totals.map((t) => `${t.currency} ${t.sum}`).join(', ')}`);
  if ((await ctx.ledger.entriesImbalance()) !== 0)
    problems.push('some transfer has entries that do not sum to zero');

  const messages = checkMessages(
    ctx,
    mailBefore,
    smsBefore,
    scenarios.flatMap((s) => s.welcomes?.(id) ?? []),
  );
  return {
    ok: results.every((r) => r.ok) && problems.length === 0 && messages.ok,
    scenarios: results.map(({ name, ok, expected, actual }) => ({ name, ok, expected, actual })),
    ledger: { sum, ok: problems.length === 0, problems },
    messages,
  };
}

/** Counts what the sinks received during the run, finds duplicates, and checks one welcome per registration. */
function checkMessages(
  ctx: ScenarioContext,
  mailBefore: number,
  smsBefore: number,
  registrations: string[],
): DemoReport['messages'] {
  const mails = ctx.mailSink.messages().slice(mailBefore);
  const texts = ctx.smsSink.messages().slice(smsBefore);
  const duplicates = (keys: string[]) => keys.length - new Set(keys).size;
  const email = { received: mails.length, duplicated: duplicates(mails.map((m) => m.messageId ?? m.raw)) };
  const sms = { received: texts.length, duplicated: duplicates(texts.map((t) => `${t.to}\n${t.body}`)) };
  const problems: string[] = [];
  if (email.duplicated > 0) problems.push(`${email.duplicated} email(s) arrived twice`);
  if (sms.duplicated > 0) problems.push(`${sms.duplicated} SMS arrived twice`);
  for (const registrationId of registrations) {
    const welcomeId = messageIdFor(`registration:${registrationId}:welcome`);
    const account = customerAccountId(customerIdFor(registrationId), 'EUR');
    const welcomes =
      mails.filter((m) => m.messageId === welcomeId).length +
      texts.filter((t) => t.body.includes(`account ${account} `)).length;
    if (welcomes !== 1) problems.push(`registration ${registrationId} got ${welcomes} welcomes`);
  }
  return { email, sms, ok: problems.length === 0, problems };
}

/** Runs the scenarios on a running local stack, tagging this run's payment ids with the current time. */
export function runScenariosOn(
  stack: Pick<
    LocalStack,
    'client' | 'ledger' | 'bank' | 'taskQueue' | 'mailSink' | 'smsSink' | 'bus' | 'codecKeys'
  >,
  log: (line: string) => void,
): Promise<DemoReport> {
  return runScenarios({ ...stack, runTag: Date.now().toString(36), log });
}

/** The report as a readable table. */
export function formatReport(report: DemoReport): string {
  const width = Math.max(...report.scenarios.map((s) => s.name.length));
  const lines = [
    `${'scenario'.padEnd(width)}  ok    expected → actual`,
    ...report.scenarios.map(
      (s) =>
        `${s.name.padEnd(width)}  ${s.ok ? 'yes ' : 'NO  '}  ${s.expected}${s.ok ? '' : ` → ${s.actual}`}`,
    ),
    '',
    `ledger: balances sum to ${report.ledger.sum}; ${report.ledger.ok ? 'every account holds what the outcomes imply' : report.ledger.problems.join('; ')}`,
    `messages: ${report.messages.email.received} email(s) and ${report.messages.sms.received} SMS received, ` +
      `${report.messages.email.duplicated + report.messages.sms.duplicated} duplicated; ` +
      (report.messages.ok ? 'one welcome per registration' : report.messages.problems.join('; ')),
    report.ok ? 'demo: every scenario ended as expected' : 'demo: SOME SCENARIOS DID NOT END AS EXPECTED',
  ];
  return lines.join('\n');
}
