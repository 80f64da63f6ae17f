/**
 * The load's command events, as another domain would send them: each run planned `via: 'bus'` is published as a
 * CloudEvent on its command subject, some twice (the same event id, which the stream's de-duplication drops; or a
 * new event id for the same business id, which only the workflow id can stop, sent while the run works or after it
 * ended), and a few invalid commands that must end as dead letters. Every publish is retried through a broker
 * outage under the same message id, as a careful publisher does. What was sent is kept for the checks and the report.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { createCloudEvent, encodeCloudEvent, EVENT_KINDS } from '../../../services/bus';
import type { EventKind } from '../../../services/bus';
import type { CommandRoute, LoadPlan, PlannedPayment, PlannedRegistration } from './load';
import type { Rng } from './random';
import { sleep } from './random';
import type { FaultStack } from './stack';

/** How a command is sent a second time. */
export const Resend = {
  /** The same bytes under the same event id (a publisher retrying): the stream keeps one. */
  SameId: 'same_id',
  /** The same payment or registration under a new event id while its run works: the workflow id keeps one run. */
  NewId: 'new_id',
  /** The same, once its run has ended: the finished run is found, no second one starts. */
  NewIdAfterEnd: 'new_id_after_end',
} as const;
/** One of {@link Resend}. */
export type Resend = (typeof Resend)[keyof typeof Resend];

/** An invalid command: what is wrong with it, and the field its dead letter's reason must name. */
export interface InvalidCommand {
  eventId: string;
  /** The payment or registration id it names; no run of it may exist. */
  businessId: string;
  workflowId: string;
  /** The field the dead letter's `data.reason` must name. */
  field: string;
  what: string;
  kind: EventKind;
  data: Record<string, unknown>;
}

/** A valid command the harness published: its event id and the run it asks for. */
export interface SentCommand {
  eventId: string;
  workflowId: string;
  /** How it was sent again, if it was. */
  resend?: Resend;
  /** False for the first command of a run, true for a resend under a new event id. */
  repeat: boolean;
}

/** How many of the runs sent by command are sent again, by way. */
export interface ResendMix {
  sameId: number;
  newId: number;
  newIdAfterEnd: number;
}

/** A start that never shows up within this time after its command was published is a lost command. */
const RUN_APPEARS_MS = 5 * 60_000;
/** A publish keeps being retried for this long (broker restarts take seconds). */
const PUBLISH_RETRY_MS = 3 * 60_000;

type Item = PlannedPayment | PlannedRegistration;

/** The commands of one scenario: planned, sent, and recorded. */
export class CommandTraffic implements CommandRoute {
  /** Every valid command published (first sends and resends under a new id). */
  readonly sent: SentCommand[] = [];
  /** The invalid commands planned; `published` marks those that went out. */
  readonly invalid: (InvalidCommand & { published: boolean })[];
  readonly counts = {
    /** Publishes the broker took (retries after a lost answer included). */
    publishes: 0,
    /** Publishes the broker answered as duplicates of a message it held. */
    deduplicated: 0,
    sameIdResent: 0,
    newIdResent: 0,
  };
  private readonly resends = new Map<string, Resend>();
  private readonly bodies = new Map<string, Uint8Array>();
  private readonly publishedAt = new Map<string, number>();
  private readonly background: Promise<void>[] = [];

  constructor(
    private readonly stack: Pick<FaultStack, 'bus' | 'keys' | 'client' | 'log'>,
    plan: LoadPlan,
    private readonly rng: Rng,
    resendMix: ResendMix,
    private readonly stopped: () => boolean,
  ) {
    const viaBus = rng.shuffle<Item>(
      [...plan.payments, ...plan.registrations].filter((i) => i.via === 'bus'),
    );
    let cursor = 0;
    const take = (n: number, resend: Resend) => {
      for (const item of viaBus.slice(cursor, cursor + n)) this.resends.set(item.workflowId, resend);
      cursor += n;
    };
    take(resendMix.sameId, Resend.SameId);
    take(resendMix.newId, Resend.NewId);
    take(resendMix.newIdAfterEnd, Resend.NewIdAfterEnd);
    this.invalid = invalidCommands(plan).map((command) => ({ ...command, published: false }));
  }

  async send(item: Item): Promise<void> {
    const eventId = `cmd-${item.id}`;
    const resend = this.resends.get(item.workflowId);
    await this.publishCommand(item, eventId, false, resend);
    this.publishedAt.set(item.workflowId, Date.now());
    if (resend === Resend.SameId) {
      this.later(async () => {
        await sleep(this.rng.int(0, 3_000));
        await this.republish(item, eventId);
        this.counts.sameIdResent += 1;
      });
    } else if (resend === Resend.NewId) {
      this.later(async () => {
        await sleep(this.rng.int(0, 2_000));
        await this.publishCommand(item, `cmd-${item.id}-again`, true, resend);
        this.counts.newIdResent += 1;
      });
    }
  }

  async whenStarted(item: Item): Promise<WorkflowHandle> {
    const handle = this.stack.client.workflow.getHandle(item.workflowId);
    const deadline = (this.publishedAt.get(item.workflowId) ?? Date.now()) + RUN_APPEARS_MS;
    for (;;) {
      try {
        await handle.describe();
        return handle;
      } catch (err) {
        // Not there yet (the consumer holds it, or is down, or the broker is), or Temporal does not answer.
        if (!(err instanceof WorkflowNotFoundError)) {
          this.stack.log.write(`[harness] describing ${item.workflowId} failed: ${String(err)}`);
        }
      }
      if (this.stopped()) throw new Error(`the scenario stopped before ${item.workflowId} started`);
      if (Date.now() > deadline) {
        throw new Error(`no run of ${item.workflowId} within ${RUN_APPEARS_MS / 1000} s of its command`);
      }
      await sleep(300);
    }
  }

  async ended(item: Item): Promise<void> {
    if (this.resends.get(item.workflowId) !== Resend.NewIdAfterEnd) return;
    await this.publishCommand(item, `cmd-${item.id}-after-end`, true, Resend.NewIdAfterEnd);
    this.counts.newIdResent += 1;
  }

  /** Publishes the `index`th invalid command. */
  async sendInvalid(index: number): Promise<void> {
    const command = this.invalid[index];
    if (command === undefined || command.published) return;
    const body = encodeCloudEvent(
      createCloudEvent(this.stack.keys, command.kind, {
        id: command.eventId,
        subject: command.businessId,
        correlationId: `order-${command.businessId}`,
        time: new Date().toISOString(),
        source: 'urn:test:fault-suite',
        data: command.data,
      }),
    );
    await this.publish(command.kind.subject, body, command.eventId);
    command.published = true;
    this.stack.log.write(`[harness] published invalid command ${command.eventId} (${command.what})`);
  }

  /** Resolves once every resend that was sent on its own has gone out. */
  async idle(): Promise<void> {
    while (this.background.length > 0) await Promise.all(this.background.splice(0));
  }

  private later(task: () => Promise<void>): void {
    this.background.push(
      task().catch((err: unknown) => this.stack.log.write(`[harness] a resend failed: ${String(err)}`)),
    );
  }

  private async publishCommand(item: Item, eventId: string, repeat: boolean, resend?: Resend): Promise<void> {
    const kind = item.type === 'payment' ? EVENT_KINDS.paymentRequested : EVENT_KINDS.registrationRequested;
    const body = encodeCloudEvent(
      createCloudEvent(this.stack.keys, kind, {
        id: eventId,
        subject: item.id,
        correlationId: `order-${item.id}`,
        time: new Date().toISOString(),
        source: 'urn:test:fault-suite',
        data: { ...item.request },
      }),
    );
    this.bodies.set(eventId, body);
    await this.publish(kind.subject, body, eventId);
    this.sent.push({
      eventId,
      workflowId: item.workflowId,
      repeat,
      ...(resend === undefined ? {} : { resend }),
    });
  }

  private async republish(item: Item, eventId: string): Promise<void> {
    const body = this.bodies.get(eventId);
    if (body === undefined) throw new Error(`no command ${eventId} was sent`);
    const kind = item.type === 'payment' ? EVENT_KINDS.paymentRequested : EVENT_KINDS.registrationRequested;
    await this.publish(kind.subject, body, eventId);
  }

  /** Publishes until the broker answers, under one message id: a publish whose answer was lost is dropped as a duplicate. */
  private async publish(subject: string, body: Uint8Array, messageId: string): Promise<void> {
    const deadline = Date.now() + PUBLISH_RETRY_MS;
    for (let attempt = 1; ; attempt++) {
      try {
        const receipt = await this.stack.bus.publish(subject, body, { messageId });
        this.counts.publishes += 1;
        if (receipt.duplicate) this.counts.deduplicated += 1;
        return;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        if (attempt % 10 === 1) {
          this.stack.log.write(`[harness] publish of ${messageId} failed (${String(err)}); trying again`);
        }
        await sleep(500);
      }
    }
  }
}

/** The invalid commands of a plan: each names a real payer or a well-formed registration and breaks one field. */
export function invalidCommands(plan: LoadPlan): InvalidCommand[] {
  const payer = plan.payers[0];
  if (payer === undefined) throw new Error('the plan has no payer');
  const tag = plan.payments[0]?.id.split('-p')[0] ?? 'x';
  const payment = (n: number, what: string, field: string, change: Record<string, unknown>) => {
    const businessId = `${tag}-x${n}`;
    return {
      eventId: `cmd-${businessId}`,
      businessId,
      workflowId: `payment:${businessId}`,
      field,
      what,
      kind: EVENT_KINDS.paymentRequested,
      data: {
        paymentId: businessId,
        fromAccountId: payer.accountId,
        amountMinor: 1_250,
        currency: payer.currency,
        beneficiary: { name: 'Fault Beneficiary', country: 'DE', iban: 'DE89370400440532013000' },
        ...change,
      },
    };
  };
  const registration = (n: number, what: string, field: string, change: Record<string, unknown>) => {
    const businessId = `${tag}-y${n}`;
    return {
      eventId: `cmd-${businessId}`,
      businessId,
      workflowId: `registration:${businessId}`,
      field,
      what,
      kind: EVENT_KINDS.registrationRequested,
      data: {
        registrationId: businessId,
        name: `Invalid Tester ${n}`,
        email: `${businessId}@faults.example.com`,
        channel: 'email',
        currency: 'EUR',
        ...change,
      },
    };
  };
  return [
    payment(1, 'a float amount', 'amountMinor', { amountMinor: 12.5 }),
    payment(2, 'an unknown data field', 'urgent', { urgent: true }),
    payment(3, 'an unsupported currency', 'currency', { currency: 'XTS' }),
    payment(4, 'timings, which no command may set', 'timings', { timings: { bankPollAttempts: 1 } }),
    registration(1, 'an email that is no address', 'email', { email: 'not-an-address' }),
  ];
}
