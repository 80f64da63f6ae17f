/**
 * A local server speaking Twilio's Messages API (`/2010-04-01/Accounts/{AccountSid}/Messages.json`): Basic auth,
 * form fields, Twilio-shaped resources and error bodies. It stores every message it accepts instead of delivering
 * it, answers Twilio's magic test numbers the way Twilio's test credentials do, and can be told to fail with 429 or
 * 5xx for a while, so the twilio SDK and baton's retries meet the answers real Twilio gives.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BodyTooLargeError, listen, readBody } from '../../services/http';
import { z } from 'zod';

/** The failure statuses the server can be told to answer. */
export type LocalTwilioFailureStatus = 429 | 500 | 503;

/** How the local server is started. */
export interface LocalTwilioOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  accountSid: string;
  authToken: string;
  /** Receives one line per request outcome; sids and codes only, never a phone number or a body. */
  log?: (line: string) => void;
}

/** A message the server accepted. */
export interface StoredSms {
  sid: string;
  to: string;
  /** Null when the message was sent through a Messaging Service without a `From`. */
  from: string | null;
  messagingServiceSid: string | null;
  body: string;
  numSegments: number;
  /** ISO-8601 time the server accepted it. */
  receivedAt: string;
}

/** A running local Twilio. */
export interface LocalTwilio {
  /** Base URL to give the SDK's HTTP client, e.g. `http://127.0.0.1:7310`. */
  readonly url: string;
  readonly port: number;
  /** Every message accepted so far, oldest first. */
  messages(): readonly StoredSms[];
  /** The next `count` message creations are answered with `status` (Twilio's error body) and nothing is stored. */
  failNext(count: number, status: LocalTwilioFailureStatus): void;
  /** Every message creation during the next `ms` milliseconds is answered with `status`. */
  failFor(ms: number, status: LocalTwilioFailureStatus): void;
  /** Forgets every stored message and every planned failure. */
  clear(): void;
  /** Stops the server and drops open connections. */
  close(): Promise<void>;
}

const API_VERSION = '2010-04-01';
const MAX_BODY_BYTES = 64 * 1024;
const MAX_BODY_CHARS = 1600;
const E164 = /^\+[1-9]\d{1,14}$/;
const SHORT_CODE = /^\d{3,8}$/;
const ALPHANUMERIC_SENDER = /^(?=.*[A-Za-z])[A-Za-z0-9 ]{1,11}$/;
const MESSAGING_SERVICE_SID = /^MG[0-9a-fA-F]{32}$/;

const MESSAGES_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\.json$/;
const MESSAGE_PATH = /^\/2010-04-01\/Accounts\/([^/]+)\/Messages\/([^/]+)\.json$/;

/** An answer in Twilio's error shape. */
class TwilioProblem extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Twilio's magic recipient numbers: each always fails this way with test credentials. */
const MAGIC_TO: ReadonlyMap<string, (to: string) => TwilioProblem> = new Map([
  [
    '+15005550001',
    (to: string) => new TwilioProblem(400, 21211, `The 'To' number ${to} is not a valid phone number.`),
  ],
  [
    '+15005550002',
    (to: string) =>
      new TwilioProblem(400, 21612, `The 'To' number ${to} cannot be reached from this sender.`),
  ],
  [
    '+15005550003',
    (to: string) =>
      new TwilioProblem(400, 21408, `Sending SMS to the region of the 'To' number ${to} is not enabled.`),
  ],
  [
    '+15005550004',
    (to: string) => new TwilioProblem(400, 21610, `The recipient ${to} has unsubscribed from this sender.`),
  ],
  [
    '+15005550009',
    (to: string) =>
      new TwilioProblem(400, 21614, `The 'To' number ${to} is not a mobile number that takes SMS.`),
  ],
]);

/** Twilio's magic sender numbers. */
const MAGIC_FROM: ReadonlyMap<string, (from: string) => TwilioProblem> = new Map([
  [
    '+15005550001',
    (from: string) =>
      new TwilioProblem(400, 21212, `The 'From' number ${from} is not a valid phone number or sender id.`),
  ],
  [
    '+15005550007',
    (from: string) =>
      new TwilioProblem(
        400,
        21606,
        `The 'From' number ${from} is not an SMS-capable number of this account.`,
      ),
  ],
  [
    '+15005550008',
    (from: string) =>
      new TwilioProblem(400, 21611, `The 'From' number ${from} has too many messages waiting in its queue.`),
  ],
]);

const FAILURE_ANSWERS: Record<LocalTwilioFailureStatus, { code: number; message: string }> = {
  429: { code: 20429, message: 'Too Many Requests' },
  500: { code: 20500, message: 'Internal Server Error' },
  503: { code: 20503, message: 'Service Unavailable' },
};

/** Form fields of a message creation; anything else Twilio accepts is ignored here. */
const SendFormSchema = z.object({
  To: z.string().trim().optional(),
  From: z.string().trim().optional(),
  MessagingServiceSid: z.string().trim().optional(),
  Body: z.string().optional(),
});

const FailurePlanSchema = z
  .object({
    status: z.union([z.literal(429), z.literal(500), z.literal(503)]),
    count: z.number().int().min(0).optional(),
    forMs: z.number().int().min(0).optional(),
  })
  .refine((plan) => (plan.count === undefined) !== (plan.forMs === undefined), {
    message: 'give either count or forMs',
  });

interface MessageRecord extends StoredSms {
  accountSid: string;
  dateCreated: string;
}

/** Starts a local Twilio and resolves once it listens. */
export async function startLocalTwilio(options: LocalTwilioOptions): Promise<LocalTwilio> {
  const server = new LocalTwilioServer(options);
  await server.listen(options.host ?? '127.0.0.1', options.port ?? 0);
  return server;
}

class LocalTwilioServer implements LocalTwilio {
  url = '';
  port = 0;
  private readonly server = createServer((req, res) => void this.handle(req, res));
  private readonly stored = new Map<string, MessageRecord>();
  private failuresLeft = 0;
  private failNextStatus: LocalTwilioFailureStatus = 500;
  private failUntil = 0;
  private failForStatus: LocalTwilioFailureStatus = 500;
  private readonly credentials: Buffer;

  constructor(private readonly options: LocalTwilioOptions) {
    this.credentials = digest(`${options.accountSid}:${options.authToken}`);
  }

  async listen(host: string, port: number): Promise<void> {
    const bound = await listen(this.server, host, port);
    this.port = bound.port;
    this.url = bound.origin;
  }

  messages(): readonly StoredSms[] {
    return [...this.stored.values()].map(view);
  }

  failNext(count: number, status: LocalTwilioFailureStatus): void {
    this.failuresLeft = Math.max(0, Math.floor(count));
    this.failNextStatus = status;
  }

  failFor(ms: number, status: LocalTwilioFailureStatus): void {
    this.failUntil = Date.now() + Math.max(0, ms);
    this.failForStatus = status;
  }

  clear(): void {
    this.stored.clear();
    this.failuresLeft = 0;
    this.failUntil = 0;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://twilio.local').pathname;
    try {
      if (path.startsWith('/_local/')) return await this.control(req, res, path);

      const list = MESSAGES_PATH.exec(path);
      if (list?.[1] !== undefined) {
        if (req.method !== 'POST') throw new TwilioProblem(405, 20004, 'Method not allowed');
        const form = await readForm(req);
        this.simulatedOutage();
        this.authorize(req, decodeURIComponent(list[1]));
        const record = this.create(decodeURIComponent(list[1]), form);
        return sendJson(res, 201, resource(record));
      }
      const single = MESSAGE_PATH.exec(path);
      if (single?.[1] !== undefined && single[2] !== undefined) {
        if (req.method !== 'GET') throw new TwilioProblem(405, 20004, 'Method not allowed');
        const accountSid = decodeURIComponent(single[1]);
        this.authorize(req, accountSid);
        const record = this.stored.get(decodeURIComponent(single[2]));
        if (record?.accountSid !== accountSid) throw notFound(path);
        return sendJson(res, 200, resource(record));
      }
      throw notFound(path);
    } catch (error) {
      if (res.headersSent) return void res.destroy();
      const problem =
        error instanceof TwilioProblem ? error : new TwilioProblem(500, 20500, 'Internal Server Error');
      if (problem.httpStatus === 401) res.setHeader('www-authenticate', 'Basic realm="Twilio API"');
      if (problem.httpStatus === 413) res.setHeader('connection', 'close');
      sendJson(res, problem.httpStatus, {
        code: problem.code,
        message: problem.message,
        more_info: `https://www.twilio.com/docs/errors/${problem.code}`,
        status: problem.httpStatus,
      });
    }
  }

  /** Test and demo controls over HTTP, for when the server runs as its own process. */
  private async control(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    if (path === '/_local/messages' && req.method === 'GET') {
      return sendJson(res, 200, { messages: this.messages() });
    }
    if (path === '/_local/messages' && req.method === 'DELETE') {
      this.clear();
      res.writeHead(204).end();
      return;
    }
    if (path === '/_local/failures' && req.method === 'POST') {
      const parsed = FailurePlanSchema.safeParse(await readJson(req));
      if (!parsed.success) throw new TwilioProblem(400, 20001, z.prettifyError(parsed.error));
      const { status, count, forMs } = parsed.data;
      if (count !== undefined) this.failNext(count, status);
      if (forMs !== undefined) this.failFor(forMs, status);
      res.writeHead(204).end();
      return;
    }
    throw notFound(path);
  }

  private simulatedOutage(): void {
    let status: LocalTwilioFailureStatus | undefined;
    if (this.failuresLeft > 0) {
      this.failuresLeft -= 1;
      status = this.failNextStatus;
    } else if (Date.now() < this.failUntil) {
      status = this.failForStatus;
    }
    if (status === undefined) return;
    this.log(`answered ${status} (simulated)`);
    const { code, message } = FAILURE_ANSWERS[status];
    throw new TwilioProblem(status, code, message);
  }

  private authorize(req: IncomingMessage, pathAccountSid: string): void {
    const header = req.headers.authorization ?? '';
    const match = /^Basic\s+(\S+)$/i.exec(header);
    const given = match?.[1] === undefined ? '' : Buffer.from(match[1], 'base64').toString('utf8');
    const valid = timingSafeEqual(digest(given), this.credentials);
    if (!valid || pathAccountSid !== this.options.accountSid) {
      this.log('refused a request: wrong credentials (20003)');
      throw new TwilioProblem(401, 20003, 'Authenticate');
    }
  }

  /** Validates the form in the order Twilio does, then applies the magic numbers, then stores. */
  private create(accountSid: string, form: Record<string, string>): MessageRecord {
    const fields = SendFormSchema.parse(form);
    const to = fields.To || undefined;
    const from = fields.From || undefined;
    const messagingServiceSid = fields.MessagingServiceSid || undefined;
    const body = fields.Body ?? '';

    try {
      if (to === undefined) throw new TwilioProblem(400, 21604, "A 'To' phone number is required.");
      if (from === undefined && messagingServiceSid === undefined) {
        throw new TwilioProblem(400, 21603, "A 'From' phone number or a Messaging Service is required.");
      }
      if (messagingServiceSid !== undefined && !MESSAGING_SERVICE_SID.test(messagingServiceSid)) {
        throw new TwilioProblem(400, 21701, `The Messaging Service ${messagingServiceSid} does not exist.`);
      }
      if (
        from !== undefined &&
        !E164.test(from) &&
        !SHORT_CODE.test(from) &&
        !ALPHANUMERIC_SENDER.test(from)
      ) {
        throw new TwilioProblem(
          400,
          21212,
          `The 'From' number ${from} is not a valid phone number or sender id.`,
        );
      }
      if (body.trim() === '') throw new TwilioProblem(400, 21602, 'A message body is required.');
      if ([...body].length > MAX_BODY_CHARS) {
        throw new TwilioProblem(
          400,
          21617,
          `The message body is over the ${MAX_BODY_CHARS} character limit.`,
        );
      }
      if (!E164.test(to))
        throw new TwilioProblem(400, 21211, `The 'To' number ${to} is not a valid phone number.`);
      const magicFrom = from === undefined ? undefined : MAGIC_FROM.get(from);
      if (from !== undefined && magicFrom !== undefined) throw magicFrom(from);
      const magicTo = MAGIC_TO.get(to);
      if (magicTo !== undefined) throw magicTo(to);
    } catch (error) {
      // The log names the code only: the number and the body are personal data.
      if (error instanceof TwilioProblem) this.log(`refused a message (${error.code})`);
      throw error;
    }

    const now = new Date();
    const record: MessageRecord = {
      sid: `SM${randomBytes(16).toString('hex')}`,
      accountSid,
      to,
      from: from ?? null,
      messagingServiceSid: messagingServiceSid ?? null,
      body,
      numSegments: segmentCount(body),
      receivedAt: now.toISOString(),
      dateCreated: rfc2822(now),
    };
    this.stored.set(record.sid, record);
    this.log(`accepted ${record.sid} (${record.numSegments} segment${record.numSegments === 1 ? '' : 's'})`);
    return record;
  }

  private log(line: string): void {
    this.options.log?.(`local twilio: ${line}`);
  }
}

function view(record: MessageRecord): StoredSms {
  const { accountSid: _accountSid, dateCreated: _dateCreated, ...stored } = record;
  return stored;
}

/** The message resource as Twilio returns it (snake_case, counts as strings, dates in RFC 2822). */
function resource(record: MessageRecord): Record<string, unknown> {
  const uri = `/${API_VERSION}/Accounts/${record.accountSid}/Messages/${record.sid}.json`;
  return {
    account_sid: record.accountSid,
    api_version: API_VERSION,
    body: record.body,
    date_created: record.dateCreated,
    date_sent: null,
    date_updated: record.dateCreated,
    direction: 'outbound-api',
    error_code: null,
    error_message: null,
    from: record.from,
    messaging_service_sid: record.messagingServiceSid,
    num_media: '0',
    num_segments: String(record.numSegments),
    price: null,
    price_unit: 'USD',
    sid: record.sid,
    // A Messaging Service picks the sender later, so Twilio reports such a message as accepted, not yet queued.
    status: record.from === null ? 'accepted' : 'queued',
    subresource_uris: { media: uri.replace(/\.json$/, '/Media.json') },
    to: record.to,
    uri,
  };
}

function notFound(path: string): TwilioProblem {
  return new TwilioProblem(404, 20404, `The requested resource ${path} was not found`);
}

/** "Tue, 04 Mar 2025 10:15:00 +0000", as Twilio writes dates. */
function rfc2822(date: Date): string {
  return date.toUTCString().replace(/GMT$/, '+0000');
}

const GSM7_BASIC = new Set(
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà',
);
const GSM7_EXTENDED = new Set('^{}\\[~]|€\f');

/** Segments a carrier would bill: GSM-7 160 (153 per part), otherwise UCS-2 70 (67 per part). */
export function segmentCount(body: string): number {
  let septets = 0;
  let gsm = true;
  for (const char of body) {
    if (GSM7_BASIC.has(char)) septets += 1;
    else if (GSM7_EXTENDED.has(char)) septets += 2;
    else gsm = false;
  }
  if (gsm) return septets <= 160 ? 1 : Math.ceil(septets / 153);
  const units = body.length;
  return units <= 70 ? 1 : Math.ceil(units / 67);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

async function readText(req: IncomingMessage): Promise<string> {
  try {
    return (await readBody(req, MAX_BODY_BYTES)).toString('utf8');
  } catch (err) {
    if (err instanceof BodyTooLargeError)
      throw new TwilioProblem(413, 20001, 'The request body is too large.');
    throw err;
  }
}

async function readForm(req: IncomingMessage): Promise<Record<string, string>> {
  return Object.fromEntries(new URLSearchParams(await readText(req)));
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const text = await readText(req);
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    if (error instanceof TwilioProblem) throw error;
    throw new TwilioProblem(400, 20001, 'The body is not JSON.');
  }
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'twilio-request-id': `RQ${randomBytes(16).toString('hex')}`,
  });
  res.end(text);
}
