/**
 * A local bank that speaks the same API as the real gateway: it accepts payments idempotently, lets each reach its
 * final status after a delay, and reports it by a signed webhook. Scenarios per payment id (outcome, delay, lost or
 * duplicated webhook, submit outages) let demos and tests reproduce what a real bank does on a bad day.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, HttpProblem, listen, readBody } from '../../services/http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BankOutcome } from '../../domain/payment-terms';
import { CORRELATION_ID_HTTP_HEADER, correlationIdProblem } from '../../domain/correlation';
import {
  BankWebhookEventSchema,
  IDEMPOTENCY_KEY_HEADER,
  SIGNATURE_HEADER,
  SimulatorOutageSchema,
  SimulatorScenarioSchema,
  SubmitPaymentRequestSchema,
} from '../../services/bank/messages';
import type {
  BankPaymentStatus,
  BankWebhookEvent,
  SimulatedPayment,
  SimulatorScenario,
  SubmitPaymentRequest,
} from '../../services/bank/messages';
import { signWebhook } from '../../services/bank/signature';
import { context, ROOT_CONTEXT } from '@opentelemetry/api';

/** How the simulator is started. */
export interface BankSimulatorOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Where the signed webhooks go (baton's webhook receiver). */
  webhookUrl: string;
  webhookSecret: string;
  /** When given, every `/v1` call must carry `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  defaultOutcome?: BankOutcome;
  defaultDelayMs?: number;
  /** Bounded retries of a webhook the receiver did not take: `attempts` in all, backoff doubling from `baseDelayMs`. */
  webhookRetry?: { attempts?: number; baseDelayMs?: number };
  /** Receives one line per payment event; ids and statuses only. */
  log?: (line: string) => void;
}

/** A running simulator. */
export interface BankSimulator {
  /** Base URL of the bank API, e.g. `http://127.0.0.1:4010`. */
  readonly url: string;
  readonly port: number;
  /** Stops the server, every pending timer and every webhook in flight. */
  close(): Promise<void>;
  /** How the next submission(s) of `paymentId` are treated; replaces an earlier scenario of that id. */
  setScenario(paymentId: string, scenario: SimulatorScenario): void;
  /** Every payment submitted so far, oldest first. */
  payments(): readonly SimulatedPayment[];
  /** Webhook POSTs the receiver answered with a 2xx, over all payments. */
  deliveredWebhooks(): number;
  /** Answers 500 to every bank API call (submissions and status polls) for `ms` milliseconds from now. */
  failFor(ms: number): void;
  /** Payment ids whose final webhook is held (scenario `holdWebhook`), in the order the bank decided them. */
  heldWebhooks(): string[];
  /** Sends the held webhook of `paymentId` now; false when none is held for it. */
  releaseWebhook(paymentId: string): boolean;
  /**
   * The beneficiary's bank sends a settled payment back, after the fact: its status becomes `returned` with no
   * webhook (as a return days later reaches the payer's bank by a statement, not by the payment's callback). False
   * when `paymentId` is not settled here.
   */
  returnSettled(paymentId: string): boolean;
}

const MAX_BODY_BYTES = 64 * 1024;
const WEBHOOK_TIMEOUT_MS = 5_000;

interface PaymentRecord {
  reference: string;
  paymentId: string;
  amountMinor: number;
  currency: string;
  fingerprint: string;
  status: BankPaymentStatus;
  outcome: BankOutcome;
  delayMs: number;
  webhookDelayMs: number;
  holdWebhook: boolean;
  webhook: 'deliver' | 'drop' | 'twice';
  submittedAt: string;
  finalAt: string | undefined;
  webhookAttempts: number;
  webhooksDelivered: number;
  correlationId: string | undefined;
}

/** Starts a simulator and resolves once it listens. */
export async function startBankSimulator(options: BankSimulatorOptions): Promise<BankSimulator> {
  const simulator = new LocalBank(options);
  await simulator.listen(options.host ?? '127.0.0.1', options.port ?? 0);
  return simulator;
}

class LocalBank implements BankSimulator {
  url = '';
  port = 0;
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private readonly stopping = new AbortController();
  private readonly byKey = new Map<string, PaymentRecord>();
  private readonly byReference = new Map<string, PaymentRecord>();
  private readonly scenarios = new Map<string, SimulatorScenario>();
  private delivered = 0;
  private outageUntil = 0;
  private readonly held = new Map<string, { release: () => void; abandon: () => void }>();
  private readonly retryAttempts: number;
  private readonly retryBaseDelayMs: number;

  constructor(private readonly options: BankSimulatorOptions) {
    // Every pending decision and webhook in flight listens to this one signal: hundreds under load, by design.
    setMaxListeners(0, this.stopping.signal);
    this.retryAttempts = options.webhookRetry?.attempts ?? 5;
    this.retryBaseDelayMs = options.webhookRetry?.baseDelayMs ?? 500;
  }

  async listen(host: string, port: number): Promise<void> {
    const bound = await listen(this.server, host, port);
    this.port = bound.port;
    this.url = bound.origin;
  }

  async close(): Promise<void> {
    this.stopping.abort();
    for (const held of this.held.values()) held.abandon();
    this.held.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  setScenario(paymentId: string, scenario: SimulatorScenario): void {
    this.scenarios.set(paymentId, SimulatorScenarioSchema.parse(scenario));
  }

  payments(): readonly SimulatedPayment[] {
    return [...this.byReference.values()].map(view);
  }

  deliveredWebhooks(): number {
    return this.delivered;
  }

  failFor(ms: number): void {
    this.outageUntil = Date.now() + Math.max(0, ms);
  }

  heldWebhooks(): string[] {
    return [...this.held.keys()];
  }

  releaseWebhook(paymentId: string): boolean {
    const held = this.held.get(paymentId);
    if (held === undefined) return false;
    this.held.delete(paymentId);
    held.release();
    return true;
  }

  returnSettled(paymentId: string): boolean {
    const record = [...this.byReference.values()].find((r) => r.paymentId === paymentId);
    if (record === undefined || record.status !== 'settled') return false;
    record.status = 'returned';
    record.outcome = 'returned';
    return true;
  }

  private outage(): void {
    if (Date.now() < this.outageUntil) {
      throw new HttpProblem(500, 'simulated_outage', 'the bank is down for a moment');
    }
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const url = new URL(req.url ?? '/', 'http://bank.local');
      const path = url.pathname;
      if (path === '/v1/payments' && req.method === 'POST') {
        this.authorize(req);
        const json = await readJson(req);
        this.outage();
        const { status, body } = this.submit(req, json);
        return sendJson(res, status, body);
      }
      const statusMatch = /^\/v1\/payments\/([^/]+)$/.exec(path);
      if (statusMatch?.[1] !== undefined && req.method === 'GET') {
        this.authorize(req);
        this.outage();
        const record = this.byReference.get(decodeURIComponent(statusMatch[1]));
        if (!record) throw new HttpProblem(404, 'not_found', 'no payment has this reference');
        const { reference, paymentId, status } = record;
        return sendJson(res, 200, { reference, paymentId, status });
      }
      const scenarioMatch = /^\/_sim\/scenarios\/([^/]+)$/.exec(path);
      if (scenarioMatch?.[1] !== undefined && req.method === 'PUT') {
        const parsed = SimulatorScenarioSchema.safeParse(await readJson(req));
        if (!parsed.success) throw new HttpProblem(400, 'invalid_scenario', summarize(parsed.error.issues));
        this.scenarios.set(decodeURIComponent(scenarioMatch[1]), parsed.data);
        res.writeHead(204).end();
        return;
      }
      if (path === '/_sim/outage' && req.method === 'POST') {
        const parsed = SimulatorOutageSchema.safeParse(await readJson(req));
        if (!parsed.success) throw new HttpProblem(400, 'invalid_outage', summarize(parsed.error.issues));
        this.failFor(parsed.data.forMs);
        res.writeHead(204).end();
        return;
      }
      if (path === '/_sim/payments' && req.method === 'GET') {
        return sendJson(res, 200, { payments: this.payments() });
      }
      throw new HttpProblem(404, 'not_found', `no route for ${req.method ?? '?'} ${path}`);
    } catch (error) {
      if (res.headersSent) return void res.destroy();
      if (error instanceof HttpProblem) {
        if (error.httpStatus === 413) res.setHeader('connection', 'close');
        return sendJson(res, error.httpStatus, { error: { code: error.code, message: error.message } });
      }
      sendJson(res, 500, { error: { code: 'internal', message: 'the simulator failed' } });
    }
  }

  private authorize(req: IncomingMessage): void {
    if (this.options.apiKey === undefined) return;
    if (req.headers.authorization !== `Bearer ${this.options.apiKey}`) {
      throw new HttpProblem(401, 'unauthorized', 'a valid API key is required');
    }
  }

  private submit(req: IncomingMessage, json: unknown): { status: number; body: unknown } {
    const key = req.headers[IDEMPOTENCY_KEY_HEADER.toLowerCase()];
    if (typeof key !== 'string' || key.length === 0 || key.length > 255) {
      throw new HttpProblem(
        400,
        'missing_idempotency_key',
        `the ${IDEMPOTENCY_KEY_HEADER} header is required`,
      );
    }
    const correlationId = correlationIdOf(req);
    const parsed = SubmitPaymentRequestSchema.safeParse(json);
    if (!parsed.success) throw new HttpProblem(400, 'invalid_request', summarize(parsed.error.issues));
    const request = parsed.data;

    const scenario = this.scenarios.get(request.paymentId);
    if (scenario?.failSubmits) {
      scenario.failSubmits -= 1;
      throw new HttpProblem(500, 'simulated_outage', 'the bank is having a bad moment');
    }

    const fingerprint = fingerprintOf(request);
    const existing = this.byKey.get(key);
    if (existing) {
      if (existing.fingerprint !== fingerprint) {
        throw new HttpProblem(
          422,
          'idempotency_key_reused',
          'this idempotency key was already used for a different payment',
        );
      }
      return this.answerOrLose(scenario, {
        status: 200,
        body: { reference: existing.reference, status: existing.status },
      });
    }

    const record: PaymentRecord = {
      reference: `BNK-${randomBytes(8).toString('hex').toUpperCase()}`,
      paymentId: request.paymentId,
      amountMinor: request.amountMinor,
      currency: request.currency,
      fingerprint,
      status: 'pending',
      outcome: scenario?.outcome ?? this.options.defaultOutcome ?? 'settled',
      delayMs: scenario?.delayMs ?? this.options.defaultDelayMs ?? 2000,
      webhookDelayMs: scenario?.webhookDelayMs ?? 0,
      holdWebhook: scenario?.holdWebhook ?? false,
      webhook: scenario?.webhook ?? 'deliver',
      submittedAt: new Date().toISOString(),
      finalAt: undefined,
      webhookAttempts: 0,
      webhooksDelivered: 0,
      // The first submission's: like the payment itself, a resubmission under the same key does not change it.
      correlationId,
    };
    this.byKey.set(key, record);
    this.byReference.set(record.reference, record);
    // A real bank knows nothing of baton's traces: its webhook starts outside them, and baton joins it to the
    // payment's trace itself (workers/worker.ts).
    void context.with(ROOT_CONTEXT, () => this.settleLater(record));
    return this.answerOrLose(scenario, {
      status: 201,
      body: { reference: record.reference, status: record.status },
    });
  }

  /** The submission is recorded either way; a scenario may still have its answer replaced by a 500. */
  private answerOrLose(
    scenario: SimulatorScenario | undefined,
    answer: { status: number; body: unknown },
  ): { status: number; body: unknown } {
    if (scenario?.loseSubmitAnswers) {
      scenario.loseSubmitAnswers -= 1;
      throw new HttpProblem(500, 'simulated_lost_answer', 'the answer was lost on its way back');
    }
    return answer;
  }

  /** Lets the payment reach its outcome after its delay, then reports it. Ends quietly when the simulator stops. */
  private async settleLater(record: PaymentRecord): Promise<void> {
    try {
      await sleep(record.delayMs, undefined, { signal: this.stopping.signal });
      record.status = record.outcome;
      record.finalAt = new Date().toISOString();
      this.log(`payment ${record.paymentId} (${record.reference}) is ${record.outcome}`);
      if (record.webhook === 'drop') return;
      if (record.webhookDelayMs > 0) {
        await sleep(record.webhookDelayMs, undefined, { signal: this.stopping.signal });
      }
      if (record.holdWebhook) await this.holdUntilReleased(record.paymentId);
      const event: BankWebhookEvent = BankWebhookEventSchema.parse({
        eventId: `evt_${randomUUID()}`,
        type: 'payment.status',
        paymentId: record.paymentId,
        reference: record.reference,
        status: record.outcome,
        occurredAt: record.finalAt,
      });
      const rawBody = JSON.stringify(event);
      const copies = record.webhook === 'twice' ? 2 : 1;
      for (let copy = 0; copy < copies; copy += 1) await this.sendWebhook(record, rawBody);
    } catch (error) {
      if (this.stopping.signal.aborted) return;
      this.log(
        `payment ${record.paymentId}: reporting failed: ${error instanceof Error ? error.message : 'unknown'}`,
      );
    }
  }

  private holdUntilReleased(paymentId: string): Promise<void> {
    // Held webhooks end with the simulator through close(), so none adds a listener to the stop signal.
    return new Promise<void>((resolve, reject) => {
      this.held.set(paymentId, {
        release: resolve,
        abandon: () => reject(new Error('the simulator stopped')),
      });
    });
  }

  private log(line: string): void {
    this.options.log?.(`bank simulator: ${line}`);
  }

  private async sendWebhook(record: PaymentRecord, rawBody: string): Promise<void> {
    for (let attempt = 1; attempt <= this.retryAttempts; attempt += 1) {
      if (attempt > 1) {
        await sleep(this.retryBaseDelayMs * 2 ** (attempt - 2), undefined, { signal: this.stopping.signal });
      }
      record.webhookAttempts += 1;
      try {
        const response = await fetch(this.options.webhookUrl, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            // Signed again on every attempt, so a late retry still carries a fresh timestamp.
            [SIGNATURE_HEADER]: signWebhook(
              rawBody,
              this.options.webhookSecret,
              Math.floor(Date.now() / 1000),
            ),
            ...(record.correlationId === undefined
              ? {}
              : { [CORRELATION_ID_HTTP_HEADER]: record.correlationId }),
          },
          body: rawBody,
          signal: AbortSignal.any([this.stopping.signal, AbortSignal.timeout(WEBHOOK_TIMEOUT_MS)]),
        });
        await response.arrayBuffer();
        if (response.ok) {
          record.webhooksDelivered += 1;
          this.delivered += 1;
          return;
        }
        this.log(`payment ${record.paymentId}: webhook attempt ${attempt} answered ${response.status}`);
      } catch (error) {
        if (this.stopping.signal.aborted) throw error;
        // A receiver that is down or slow is retried like one that answered an error.
        this.log(`payment ${record.paymentId}: webhook attempt ${attempt} got no answer`);
      }
    }
    this.log(`payment ${record.paymentId}: webhook given up after ${this.retryAttempts} attempts`);
  }
}

function view(record: PaymentRecord): SimulatedPayment {
  const {
    fingerprint: _fingerprint,
    delayMs: _delayMs,
    webhookDelayMs: _webhookDelayMs,
    holdWebhook: _holdWebhook,
    finalAt,
    correlationId,
    ...rest
  } = record;
  return {
    ...rest,
    ...(finalAt === undefined ? {} : { finalAt }),
    ...(correlationId === undefined ? {} : { correlationId }),
  };
}

/** The submission's correlation id header, if it has one; one that is not a correlation id is refused. */
function correlationIdOf(req: IncomingMessage): string | undefined {
  const value = req.headers[CORRELATION_ID_HTTP_HEADER.toLowerCase()];
  if (value === undefined) return undefined;
  const problem = correlationIdProblem(value);
  if (typeof value === 'string' && problem === undefined) return value;
  throw new HttpProblem(
    400,
    'invalid_correlation_id',
    `the ${CORRELATION_ID_HTTP_HEADER} header ${problem ?? 'must be a string'}`,
  );
}

/** Same payment, same fingerprint, whatever the key order of the JSON it came in. */
function fingerprintOf(request: SubmitPaymentRequest): string {
  const { paymentId, amountMinor, currency, beneficiary } = request;
  const canonical = JSON.stringify([
    paymentId,
    amountMinor,
    currency,
    beneficiary.name,
    beneficiary.country,
    beneficiary.iban ?? null,
    beneficiary.accountNumber ?? null,
  ]);
  return createHash('sha256').update(canonical).digest('hex');
}

function summarize(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  return issues.map((issue) => `${issue.path.map(String).join('.') || 'body'}: ${issue.message}`).join('; ');
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let body: Buffer;
  try {
    body = await readBody(req, MAX_BODY_BYTES);
  } catch (err) {
    if (err instanceof BodyTooLargeError)
      throw new HttpProblem(413, 'body_too_large', 'the body is over 64 KiB');
    throw err;
  }
  try {
    return JSON.parse(body.toString('utf8')) as unknown;
  } catch {
    throw new HttpProblem(400, 'invalid_json', 'the body is not JSON');
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
