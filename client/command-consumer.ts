/**
 * The command consumer: takes command events off the bus and starts the workflow each one asks for, under its
 * business id, so a command delivered or published twice is one run. A command is acknowledged only after its
 * start is confirmed. One that can never be a start (bad JSON, a wrong envelope, an invalid request) is
 * dead-lettered with its reason and acknowledged; one whose handling never answers is dead-lettered after
 * {@link MAX_DELIVER} deliveries. Temporal being away is neither: the consumer holds the command and tries again
 * until Temporal answers, so an outage delays a payment and never loses it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { MetricMeter } from '@temporalio/common';
import { isGrpcServiceError } from '@temporalio/client';
import type { KeyRing } from '../config/key-ring';
import {
  COMMAND_KINDS,
  createCloudEvent,
  deadLetterSubject,
  encodeCloudEvent,
  EVENT_KINDS,
  EventRejection,
  MAX_DELIVER,
  parseCloudEvent,
  PAYMENT_COMMAND_SUBJECT,
  REGISTRATION_COMMAND_SUBJECT,
  STREAMS,
} from '../services/bus';
import type { DeliveredMessage, MessageBus, ReceivedEvent } from '../services/bus';
import { CORRELATION_ID_PATTERN } from '../domain/correlation';
import { startPayment } from './payments';
import { startRegistration } from './registrations';
import { paymentRequestProblems } from '../workflows/payment-checks';
import { registrationRequestProblems } from '../workflows/registration-checks';
import type { PaymentRequest } from '../workflows/payment-contract';
import type { RegistrationRequest } from '../workflows/registration-contract';
import { TASK_QUEUE } from '../workflows/task-queue';
import { contextFromHeaders, inSpan, SpanKind, TRACE_ATTRIBUTES } from '../services/telemetry/tracing';

/** What the consumer needs. */
export interface CommandConsumerOptions {
  bus: MessageBus;
  client: Client;
  /** Opens the sealed personal fields of commands, and seals nothing else. */
  keys: KeyRing;
  taskQueue?: string;
  /** Where the consumer counts commands (`baton_commands_total` by kind and result); uncounted when omitted. */
  meter?: MetricMeter;
  /** How many commands are taken and handled together (default 32). */
  batchSize?: number;
  log?: (line: string) => void;
}

/** What the consumer did since it started. */
export interface CommandConsumerCounts {
  /** Commands that started a run. */
  started: number;
  /** Commands whose run already existed (a command delivered or published again). */
  alreadyStarted: number;
  deadLettered: number;
  /** Times a start waited for Temporal to answer. */
  heldForTemporal: number;
}

/** A running consumer. */
export interface RunningCommandConsumer {
  readonly counts: Readonly<CommandConsumerCounts>;
  /** Settles when the consumer has stopped. */
  finished: Promise<void>;
  /** Stops taking commands; those in hand and not yet started are handed back to the bus. Idempotent. */
  stop(): Promise<void>;
}

/** What a command asks for, read and checked. */
type Command =
  | { kind: 'payment'; request: PaymentRequest; correlationId: string; eventId: string }
  | { kind: 'registration'; request: RegistrationRequest; correlationId: string; eventId: string };

// A request field no command may set: timings are for demos and tests that start runs themselves.
const PAYMENT_COMMAND_ONLY_FORBIDS = ['timings'];

/** Reads a delivered message as a command; throws {@link EventRejection} naming each field at fault. */
export function readCommand(keys: KeyRing, message: { subject: string; body: Uint8Array }): Command {
  const event = parseCloudEvent(keys, message.body, COMMAND_KINDS);
  if (event.kind.subject !== message.subject) {
    throw new EventRejection([`type: ${event.kind.type} is not accepted on ${message.subject}`]);
  }
  return event.kind.type === EVENT_KINDS.paymentRequested.type
    ? paymentCommand(event)
    : registrationCommand(event);
}

/** The kind of command a subject carries, as a metric label: never anything the message itself says. */
function commandKindOf(subject: string): 'payment' | 'registration' | 'unknown' {
  if (subject === PAYMENT_COMMAND_SUBJECT) return 'payment';
  if (subject === REGISTRATION_COMMAND_SUBJECT) return 'registration';
  return 'unknown';
}

function dataProblems(problems: string[]): EventRejection {
  return new EventRejection(problems.map((problem) => `data: ${problem}`));
}

function paymentCommand(event: ReceivedEvent): Command {
  const { data, envelope } = event;
  const forbidden = PAYMENT_COMMAND_ONLY_FORBIDS.filter((field) => field in data);
  if (forbidden.length > 0)
    throw dataProblems(forbidden.map((field) => `${field} is not a field of a command`));
  const problems = paymentRequestProblems(data);
  if (problems.length > 0) throw dataProblems(problems);
  const request = data as unknown as PaymentRequest;
  if (request.paymentId !== envelope.subject) {
    throw new EventRejection([`subject: must be the payment id "${request.paymentId}"`]);
  }
  return { kind: 'payment', request, correlationId: envelope.correlationid, eventId: envelope.id };
}

function registrationCommand(event: ReceivedEvent): Command {
  const { data, envelope } = event;
  const problems = registrationRequestProblems(data);
  if (problems.length > 0) throw dataProblems(problems);
  const request = data as unknown as RegistrationRequest;
  if (request.registrationId !== envelope.subject) {
    throw new EventRejection([`subject: must be the registration id "${request.registrationId}"`]);
  }
  return { kind: 'registration', request, correlationId: envelope.correlationid, eventId: envelope.id };
}

// gRPC codes that say the start itself is wrong, whatever the server's health: retrying cannot help.
const PERMANENT_GRPC_CODES = new Set([3 /* INVALID_ARGUMENT */, 11 /* OUT_OF_RANGE */]);

/** The gRPC status code of a failed call, looking through causes. */
function grpcCode(error: unknown): number | undefined {
  for (let cause = error; cause instanceof Error; cause = cause.cause) {
    if (isGrpcServiceError(cause)) return cause.code;
  }
  return undefined;
}

/** Unreachable, overloaded, timed out or not yet ready: Temporal will answer later. */
function isTemporalAway(error: unknown): boolean {
  const code = grpcCode(error);
  return code !== undefined && !PERMANENT_GRPC_CODES.has(code);
}

/** What the raw message says of itself, where it can be read at all: for a dead letter's envelope. */
function bestEffortIds(body: Uint8Array): { id?: string; subject?: string; correlationId?: string } {
  try {
    const json: unknown = JSON.parse(Buffer.from(body).toString('utf8'));
    if (typeof json !== 'object' || json === null) return {};
    const record = json as Record<string, unknown>;
    const safe = (value: unknown) =>
      typeof value === 'string' && CORRELATION_ID_PATTERN.test(value) ? value : undefined;
    const id = safe(record.id);
    const subject = safe(record.subject);
    const correlationId = safe(record.correlationid);
    return {
      ...(id === undefined ? {} : { id }),
      ...(subject === undefined ? {} : { subject }),
      ...(correlationId === undefined ? {} : { correlationId }),
    };
  } catch {
    return {};
  }
}

const RETRY_FIRST_MS = 500;
const RETRY_MAX_MS = 15_000;
/** Tells the bus the consumer is still at it, well inside its redelivery timer. */
const IN_PROGRESS_EVERY_MS = 10_000;

/** Starts the consumer loop. */
export function startCommandConsumer(options: CommandConsumerOptions): RunningCommandConsumer {
  const { bus, client, keys } = options;
  const taskQueue = options.taskQueue ?? TASK_QUEUE;
  const log = options.log ?? (() => undefined);
  const batchSize = options.batchSize ?? 32;
  const counts: CommandConsumerCounts = {
    started: 0,
    alreadyStarted: 0,
    deadLettered: 0,
    heldForTemporal: 0,
  };
  const stopping = new AbortController();
  const commands = options.meter?.createCounter(
    'baton_commands',
    undefined,
    'Command events handled, by kind and result (started, existing, dead_lettered)',
  );

  async function deadLetter(message: DeliveredMessage, problems: readonly string[]): Promise<void> {
    const ids = bestEffortIds(message.body);
    const id = `dead-letter:${STREAMS.commands}:${message.sequence}`;
    const reason = problems.join('; ');
    const event = createCloudEvent(keys, EVENT_KINDS.commandDeadLettered, {
      id,
      subject: ids.subject ?? `${STREAMS.commands}:${message.sequence}`,
      correlationId: ids.correlationId ?? `${STREAMS.commands}:${message.sequence}`,
      time: new Date().toISOString(),
      data: {
        reason,
        problems: [...problems],
        commandSubject: message.subject,
        commandStream: STREAMS.commands,
        commandSequence: message.sequence,
        ...(ids.id === undefined ? {} : { commandId: ids.id }),
        deliveries: message.deliveryCount,
      },
    });
    // The same message id if this command comes back before its acknowledgement landed: one dead letter.
    await bus.publish(deadLetterSubject(message.subject), encodeCloudEvent(event), { messageId: id });
    counts.deadLettered += 1;
    commands?.add(1, { kind: commandKindOf(message.subject), result: 'dead_lettered' });
    log(
      `dead-lettered command #${message.sequence} on ${message.subject}` +
        `${ids.correlationId === undefined ? '' : ` (correlation ${ids.correlationId})`}: ${reason}`,
    );
  }

  async function start(command: Command): Promise<'started' | 'existing'> {
    const run =
      command.kind === 'payment'
        ? await startPayment(client, command.request, taskQueue, command.correlationId)
        : await startRegistration(client, command.request, taskQueue, command.correlationId);
    return run.existing ? 'existing' : 'started';
  }

  /** Starts the run, waiting out a Temporal that does not answer; undefined when the consumer stopped first. */
  async function startHolding(command: Command): Promise<'started' | 'existing' | undefined> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await start(command);
      } catch (error) {
        if (!isTemporalAway(error)) throw error;
        counts.heldForTemporal += 1;
        if (attempt % 10 === 0) {
          log(
            `Temporal does not answer (${error instanceof Error ? error.message : String(error)}); ` +
              `holding command ${command.eventId} (correlation ${command.correlationId}) and trying again`,
          );
        }
      }
      const wait = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** Math.min(attempt, 10));
      await sleep(wait, undefined, { signal: stopping.signal }).catch(() => undefined);
      if (stopping.signal.aborted) return undefined;
    }
  }

  async function handle(message: DeliveredMessage): Promise<void> {
    const keepAlive = setInterval(() => message.inProgress(), IN_PROGRESS_EVERY_MS);
    try {
      if (message.deliveryCount > MAX_DELIVER) {
        await deadLetter(message, [
          `delivery: offered ${message.deliveryCount - 1} times and never handled (a poison message)`,
        ]);
        message.ack();
        return;
      }
      let command: Command;
      try {
        command = readCommand(keys, message);
      } catch (error) {
        if (!(error instanceof EventRejection)) throw error;
        await deadLetter(message, error.problems);
        message.ack();
        return;
      }
      // The start runs in the publisher's trace (its `traceparent` header), so asker and run are one trace.
      const outcome = await inSpan(
        `process ${message.subject}`,
        {
          kind: SpanKind.CONSUMER,
          parent: contextFromHeaders(message.headers),
          attributes: {
            [TRACE_ATTRIBUTES.commandKind]: command.kind,
            [TRACE_ATTRIBUTES.correlationId]: command.correlationId,
            ...(command.kind === 'payment'
              ? { [TRACE_ATTRIBUTES.paymentId]: command.request.paymentId }
              : { [TRACE_ATTRIBUTES.registrationId]: command.request.registrationId }),
          },
        },
        () => startHolding(command),
      );
      if (outcome === undefined) {
        // Stopping: hand it back now rather than after the redelivery timer.
        message.nak(0);
        return;
      }
      if (outcome === 'started') counts.started += 1;
      else counts.alreadyStarted += 1;
      commands?.add(1, { kind: command.kind, result: outcome });
      message.ack();
      log(
        `${outcome === 'started' ? 'started' : 'found the run of'} ${command.kind} ` +
          `${command.kind === 'payment' ? command.request.paymentId : command.request.registrationId} ` +
          `from command ${command.eventId} (correlation ${command.correlationId})`,
      );
    } catch (error) {
      // Not an outage and not a bad command: most likely a fault of this consumer's. The command comes back after a
      // pause, and after MAX_DELIVER tries it is dead-lettered.
      const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** message.deliveryCount);
      log(
        `could not handle command #${message.sequence} (delivery ${message.deliveryCount}): ` +
          `${error instanceof Error ? error.message : String(error)}; offered again in ${delay} ms`,
      );
      message.nak(delay);
    } finally {
      clearInterval(keepAlive);
    }
  }

  async function loop(): Promise<void> {
    let pause = RETRY_FIRST_MS;
    while (!stopping.signal.aborted) {
      let batch: DeliveredMessage[];
      try {
        batch = await bus.pullCommands({ max: batchSize, waitMs: 2_000 });
        pause = RETRY_FIRST_MS;
      } catch (error) {
        if (stopping.signal.aborted) break;
        log(`the bus does not answer (${error instanceof Error ? error.message : String(error)}); retrying`);
        await sleep(pause, undefined, { signal: stopping.signal }).catch(() => undefined);
        pause = Math.min(RETRY_MAX_MS, pause * 2);
        continue;
      }
      await Promise.all(batch.map((message) => handle(message)));
    }
  }

  const finished = loop();
  return {
    counts,
    finished,
    stop() {
      stopping.abort();
      return finished;
    },
  };
}
