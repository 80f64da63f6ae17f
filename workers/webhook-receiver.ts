/**
 * The HTTP endpoint the bank calls with a payment's final status. It checks the signature over the raw body before
 * reading anything in it, then hands the status to `deliver` (which signals the payment workflow). Its answers tell
 * the bank whether to try again: 2xx and 4xx are final, 503 asks for a retry.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, isJsonContentType, listen, readBody, fieldIssuesText } from '../services/http';
import { BankWebhookEventSchema, SIGNATURE_HEADER } from '../services/bank/messages';
import { verifyWebhookSignature } from '../services/bank/signature';
import type { WebhookSecret } from '../services/bank/signature';
import type { BankStatusSignal } from '../workflows/payment-contract';
import { CORRELATION_ID_HTTP_HEADER, CORRELATION_ID_PATTERN } from '../domain/correlation';

/** Path the bank POSTs its webhooks to. */
export const WEBHOOK_PATH = '/webhooks/bank';

/** Largest webhook body accepted. */
export const MAX_WEBHOOK_BODY_BYTES = 64 * 1024;

// The event as the bank defines it, and nothing more: a field baton does not know is refused by name rather than
// silently dropped, and the refusal is final (4xx), so the payment learns its status by polling instead.
const WebhookEventSchema = BankWebhookEventSchema.strict();

/** A verified bank status, addressed to one payment. */
export interface BankStatusDelivery {
  paymentId: string;
  signal: BankStatusSignal;
}

/** What became of a delivery: the payment took it, or no payment of that id exists. */
export type DeliveryResult = 'delivered' | 'unknown_payment';

/** How the receiver is started. */
export interface WebhookReceiverOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  /** The bank's signing secret; several while it is being rotated. */
  secret: WebhookSecret;
  /** Hands a verified status to its payment; a throw makes the bank retry later. */
  deliver: (event: BankStatusDelivery) => Promise<DeliveryResult>;
  /** One line per request; ids only, never personal data. */
  log?: (line: string) => void;
  /** How far, in seconds, a signature's timestamp may be from now. */
  toleranceSeconds?: number;
}

/** A running webhook receiver. */
export interface WebhookReceiver {
  /** Full URL of the webhook path, to give to the bank. */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

type Answer = { status: number; body: unknown };

/** Starts the receiver and resolves once it listens. */
export async function startWebhookReceiver(options: WebhookReceiverOptions): Promise<WebhookReceiver> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);

  const server = createServer((req, res) => {
    void answer(req, options, log).then(
      (result) => send(res, result),
      (error: unknown) => {
        if (error instanceof BodyTooLargeError) {
          log('webhook refused: body over the size limit');
          res.setHeader('connection', 'close');
          return send(res, problem(413, 'body_too_large', 'the body is over 64 KiB'));
        }
        log(`webhook failed: ${error instanceof Error ? error.name : 'unknown error'}`);
        if (!res.headersSent) send(res, problem(500, 'internal', 'the receiver failed'));
        else res.destroy();
      },
    );
  });

  const { port, origin } = await listen(server, host, options.port ?? 0);

  return {
    url: `${origin}${WEBHOOK_PATH}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function answer(
  req: IncomingMessage,
  options: WebhookReceiverOptions,
  log: (line: string) => void,
): Promise<Answer> {
  const path = new URL(req.url ?? '/', 'http://receiver.local').pathname;
  if (path === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) {
    return { status: 200, body: { ok: true } };
  }
  if (path !== WEBHOOK_PATH) return problem(404, 'not_found', 'no such path');
  if (req.method !== 'POST') return problem(405, 'method_not_allowed', 'use POST');

  const rawBody = await readBody(req, MAX_WEBHOOK_BODY_BYTES);
  const header = req.headers[SIGNATURE_HEADER.toLowerCase()];
  const verification = verifyWebhookSignature({
    rawBody,
    header: typeof header === 'string' ? header : undefined,
    secret: options.secret,
    nowSeconds: Math.floor(Date.now() / 1000),
    toleranceSeconds: options.toleranceSeconds,
  });
  if (!verification.ok) {
    log(`webhook refused: signature ${verification.reason}`);
    return problem(401, 'invalid_signature', `signature ${verification.reason}`);
  }

  // Judged after the signature, so a caller without the bank's secret learns nothing about what baton accepts.
  if (!isJsonContentType(req.headers['content-type'])) {
    log('webhook refused: content type is not JSON');
    return problem(415, 'unsupported_media_type', 'content-type must be application/json');
  }
  let json: unknown;
  try {
    json = JSON.parse(rawBody.toString('utf8'));
  } catch {
    log('webhook refused: body is not JSON');
    return problem(400, 'invalid_json', 'the body is not JSON');
  }
  const parsed = WebhookEventSchema.safeParse(json);
  if (!parsed.success) {
    log('webhook refused: body is not a payment status event');
    return problem(
      400,
      'invalid_event',
      `the body is not a payment status event: ${fieldIssuesText(parsed.error.issues)}`,
    );
  }
  const event = parsed.data;
  const correlationId = correlationIdOf(req);
  const correlation = correlationId === undefined ? '' : ` correlation ${correlationId}`;
  const ids = `event ${event.eventId} payment ${event.paymentId}${correlation}`;

  let result: DeliveryResult;
  try {
    result = await options.deliver({
      paymentId: event.paymentId,
      signal: { bankReference: event.reference, outcome: event.status, eventId: event.eventId },
    });
  } catch (error) {
    log(
      `webhook ${ids}: delivery failed (${error instanceof Error ? error.name : 'unknown error'}), bank will retry`,
    );
    return problem(503, 'unavailable', 'the status could not be handed over; try again later');
  }
  if (result === 'unknown_payment') {
    log(`webhook ${ids}: unknown payment`);
    return problem(404, 'unknown_payment', 'no payment has this id');
  }
  log(`webhook ${ids}: ${event.status} delivered`);
  return { status: 200, body: { received: true } };
}

/**
 * The correlation id the bank echoes on the delivery, when it is one. It is outside the signature, so it only
 * names the delivery in the log; anything else in the header (or a list of them) is left out, never written.
 */
function correlationIdOf(req: IncomingMessage): string | undefined {
  const value = req.headers[CORRELATION_ID_HTTP_HEADER.toLowerCase()];
  return typeof value === 'string' && CORRELATION_ID_PATTERN.test(value) ? value : undefined;
}

function problem(status: number, code: string, message: string): Answer {
  return { status, body: { error: { code, message } } };
}

function send(res: ServerResponse, { status, body }: Answer): void {
  const text = JSON.stringify(body);
  const headers: Record<string, string | number> = {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  };
  if (status === 405) headers.allow = 'POST';
  res.writeHead(status, headers);
  res.end(text);
}
