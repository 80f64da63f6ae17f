/**
 * Sends baton's messages by SMTP through nodemailer, and sorts every failure into the two kinds a caller must treat
 * differently: the server refused this message or recipient for good ({@link MailPermanentError}, give up), or the
 * server could not be reached or asked to try later ({@link MailTransientError}, retry). Every message carries a
 * Message-ID derived from its idempotency key, so a retried send is recognisably the same message.
 */
import { createHash } from 'node:crypto';
import { createTransport } from 'nodemailer';
import type { Transporter } from 'nodemailer';
import { z } from 'zod';
import { CORRELATION_ID_HTTP_HEADER, CORRELATION_ID_PATTERN } from '../../domain/correlation';
import { renderMessage } from './templates';
import type { MailMessage } from './templates';
import { inSpan, SpanKind } from '../telemetry/tracing';

/** The Message-ID of the message sent under `key` (`<workflowId>:<purpose>`): the same key, the same id. */
export function messageIdFor(key: string, domain = 'baton.local'): string {
  const digest = createHash('sha256').update(key, 'utf8').digest('hex');
  return `<${digest.slice(0, 32)}@${domain}>`;
}

/** What a failed SMTP exchange tells about itself, read from nodemailer's error. */
export interface MailFailureContext {
  /** nodemailer's error code (`EENVELOPE`, `ECONNECTION`, `ETIMEDOUT`, ...), or the system's (`ECONNREFUSED`). */
  code: string;
  /** The SMTP reply code, when the server answered. */
  responseCode?: number;
  /** The SMTP command the server answered (`RCPT TO`, `DATA`, `CONN` for the greeting), when known. */
  command?: string;
}

/** The server refused this message or recipient (a 5xx reply, an invalid address): sending again will not help. */
export class MailPermanentError extends Error {
  override readonly name = 'MailPermanentError';
  readonly code: string;
  /** The SMTP reply code; undefined when the message was refused before reaching the server. */
  readonly responseCode: number | undefined;
  readonly command: string | undefined;

  constructor(message: string, context: MailFailureContext, options?: ErrorOptions) {
    super(message, options);
    this.code = context.code;
    this.responseCode = context.responseCode;
    this.command = context.command;
  }
}

/** The server could not be reached, timed out, dropped the connection or answered 4xx: retry later. */
export class MailTransientError extends Error {
  override readonly name = 'MailTransientError';
  readonly code: string;
  /** The SMTP reply code, when the server answered. */
  readonly responseCode: number | undefined;
  readonly command: string | undefined;

  constructor(message: string, context: MailFailureContext, options?: ErrorOptions) {
    super(message, options);
    this.code = context.code;
    this.responseCode = context.responseCode;
    this.command = context.command;
  }
}

/** Commands whose refusal is about this message or its recipients rather than the server or the session. */
const MESSAGE_COMMANDS = new Set(['MAIL FROM', 'RCPT TO', 'DATA']);
/** nodemailer's codes for a message it cannot send whatever the server does: no or malformed recipients, too big. */
const MESSAGE_CODES = new Set(['EENVELOPE', 'EMESSAGE']);

const NodemailerErrorShape = z.object({
  message: z.string().catch(''),
  code: z.string().optional().catch(undefined),
  responseCode: z.number().int().optional().catch(undefined),
  command: z.string().optional().catch(undefined),
  response: z.string().optional().catch(undefined),
});

/** Replaces anything shaped like an email address: servers echo recipients in their replies. */
function redactAddresses(text: string): string {
  return text.replace(/[^\s<>"'@,;:()[\]]+@[^\s<>"'@,;:()[\]]+/g, '<address>');
}

/**
 * Sorts a failure of a send into permanent or transient. Only a refusal of the message itself is permanent: a 5xx
 * reply to MAIL FROM, RCPT TO or DATA (except 503, a session out of step, which a new connection fixes), or an
 * envelope nodemailer will not send. Everything about the server or the way to it (refused connection, reset,
 * timeout, 421 at the greeting, 4xx, failed login) is transient, because it can be fixed without changing the
 * message. The cause kept on the result is a copy with addresses removed, because callers' failures end up in
 * workflow histories and logs.
 */
export function classifyMailError(error: unknown): MailPermanentError | MailTransientError {
  if (error instanceof MailPermanentError || error instanceof MailTransientError) return error;
  const shape = NodemailerErrorShape.safeParse(error);
  const fields = shape.success ? shape.data : { message: String(error) };
  const context: MailFailureContext = { code: fields.code ?? 'UNKNOWN' };
  if (fields.responseCode !== undefined) context.responseCode = fields.responseCode;
  if (fields.command !== undefined) context.command = fields.command;

  const cause = new Error(redactAddresses(fields.message));
  if (error instanceof Error) {
    cause.name = error.name;
    if (error.stack !== undefined) cause.stack = redactAddresses(error.stack);
  }
  Object.assign(cause, context);

  const detail = redactAddresses(fields.response ?? fields.message);
  const where = [context.responseCode, context.command].filter((part) => part !== undefined).join(' on ');
  const described = `${context.code}${where === '' ? '' : ` (${where})`}: ${detail}`;

  const permanent =
    context.responseCode !== undefined
      ? context.responseCode >= 500 &&
        context.responseCode < 600 &&
        context.responseCode !== 503 &&
        (MESSAGE_COMMANDS.has(context.command ?? '') || MESSAGE_CODES.has(context.code))
      : MESSAGE_CODES.has(context.code);
  return permanent
    ? new MailPermanentError(`the mail server refused the message: ${described}`, context, { cause })
    : new MailTransientError(`mail could not be sent now: ${described}`, context, { cause });
}

/** How the mailer reaches its SMTP server. */
export interface MailerOptions {
  /** `smtp://[user:pass@]host:port` or `smtps://...`; query options such as `?requireTLS=true` are nodemailer's. */
  smtpUrl: string;
  /** The sender, e.g. `baton <no-reply@baton.example>`. */
  from: string;
  /** Keep a few connections open and reuse them (default true). */
  pool?: boolean;
  /** Budget for connecting and for the server's greeting (default 10 s). */
  connectionTimeoutMs?: number;
  /** Domain of the Message-IDs (default `baton.local`). */
  messageIdDomain?: string;
  /** Receives one line per message sent or failed: kind, Message-ID and error code only, never an address or name. */
  log?: (line: string) => void;
}

/** One message to send. */
export interface SendMailInput {
  to: string;
  message: MailMessage;
  /** `<workflowId>:<purpose>`: the Message-ID is derived from it. */
  idempotencyKey: string;
  /** The business process the message belongs to, sent as the `X-Correlation-ID` header when given. */
  correlationId?: string;
}

/** What the server said about a sent message. */
export interface SendMailResult {
  messageId: string;
  /** The server accepted the recipient. */
  accepted: boolean;
}

const SendMailInputSchema = z.object({
  to: z.email(),
  idempotencyKey: z.string().min(1),
  correlationId: z.string().regex(CORRELATION_ID_PATTERN).optional(),
});

/** How long an exchange may sit without a reply once connected. */
const SOCKET_TIMEOUT_MS = 30_000;

/** Sends rendered messages over SMTP. */
export class Mailer {
  private readonly transport: Transporter;
  private readonly from: string;
  private readonly messageIdDomain: string;
  private readonly log: (line: string) => void;

  constructor(options: MailerOptions) {
    const connectionTimeout = options.connectionTimeoutMs ?? 10_000;
    const common = {
      url: options.smtpUrl,
      connectionTimeout,
      greetingTimeout: connectionTimeout,
      socketTimeout: SOCKET_TIMEOUT_MS,
      // baton's messages have no attachments: nothing may be read from disk or fetched while composing.
      disableFileAccess: true,
      disableUrlAccess: true,
      logger: false,
    };
    this.transport =
      options.pool === false
        ? createTransport(common)
        : createTransport({ ...common, pool: true, maxConnections: 5, maxMessages: 100 });
    this.from = options.from;
    this.messageIdDomain = options.messageIdDomain ?? 'baton.local';
    this.log = options.log ?? (() => undefined);
  }

  /**
   * Renders and sends one message. Throws {@link MailPermanentError} when the message or its recipient is refused
   * for good, {@link MailTransientError} when trying again later may succeed.
   */
  async send(input: SendMailInput): Promise<SendMailResult> {
    const messageId = messageIdFor(input.idempotencyKey, this.messageIdDomain);
    const valid = SendMailInputSchema.safeParse(input);
    if (!valid.success) {
      const field = valid.error.issues[0]?.path.join('.') ?? 'input';
      this.log(`mail ${input.message.kind} ${messageId} not sent: invalid ${field}`);
      throw new MailPermanentError(`mail not sent: invalid ${field}`, { code: 'EENVELOPE', command: 'API' });
    }
    const rendered = renderMessage(input.message);
    return inSpan(
      'smtp send',
      {
        kind: SpanKind.CLIENT,
        attributes: { 'baton.mail_kind': input.message.kind, 'messaging.message.id': messageId },
      },
      () => this.deliver(input, rendered, messageId),
    );
  }

  private async deliver(
    input: SendMailInput,
    rendered: ReturnType<typeof renderMessage>,
    messageId: string,
  ): Promise<SendMailResult> {
    try {
      const info = await this.transport.sendMail({
        from: this.from,
        to: { name: input.message.name, address: input.to },
        subject: rendered.subject,
        text: rendered.text,
        html: rendered.html,
        messageId,
        ...(input.correlationId === undefined
          ? {}
          : { headers: { [CORRELATION_ID_HTTP_HEADER]: input.correlationId } }),
      });
      const accepted = (info.accepted ?? []).length > 0;
      this.log(`mail ${input.message.kind} ${messageId} ${accepted ? 'accepted' : 'not accepted'}`);
      return { messageId, accepted };
    } catch (error) {
      const failure = classifyMailError(error);
      const kind = failure instanceof MailPermanentError ? 'refused' : 'failed, transient';
      this.log(
        `mail ${input.message.kind} ${messageId} ${kind}: ${failure.code}${failure.responseCode === undefined ? '' : ` ${failure.responseCode}`}`,
      );
      throw failure;
    }
  }

  /** Connects (and logs in, when the URL carries credentials) to check the server is there. */
  async verify(): Promise<void> {
    try {
      await this.transport.verify();
    } catch (error) {
      throw classifyMailError(error);
    }
  }

  /** Closes the pooled connections; messages still in flight finish first. */
  close(): void {
    this.transport.close();
  }
}
