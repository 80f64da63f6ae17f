/**
 * A local SMTP server that keeps every message it is given, for the local stack and for tests. It speaks real SMTP
 * (the `smtp-server` package), so the mailer under test goes through its real transport. It can be told to refuse
 * for a while, answering 421 ("try again later") at connect and at MAIL FROM, as a relay does during an outage, and
 * to refuse chosen recipients with 550, as a relay does for a mailbox that does not exist.
 */
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';
import type { SMTPServerAddress, SMTPServerDataStream, SMTPServerSession } from 'smtp-server';
import { CORRELATION_ID_HTTP_HEADER } from '../../domain/correlation';
import { parseMail } from './mime';

/** One message the sink received. */
export interface StoredMail {
  /** The `Message-ID` header, angle brackets included. */
  messageId: string | undefined;
  /** The `X-Correlation-ID` header, as sent; undefined when the message has none. */
  correlationId: string | undefined;
  /** Envelope sender (MAIL FROM). */
  from: string;
  /** Envelope recipients (RCPT TO). */
  to: string[];
  subject: string;
  /** The text/plain part, decoded, with `\n` line ends. */
  text: string;
  /** The text/html part, decoded, when there is one. */
  html?: string;
  /** The message as received (decoded as UTF-8 for reading). */
  raw: string;
  /** ISO-8601 time of receipt. */
  receivedAt: string;
}

/** How the sink is started. */
export interface SmtpSinkOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Receives one line per message (Message-ID and subject) and per refusal; never an address. */
  log?: (line: string) => void;
  /** Recipients for which RCPT TO is answered `550 mailbox unavailable`. */
  rejectRecipients?: (address: string) => boolean;
  /** Largest message accepted, in bytes (default 1 MiB); a larger one is refused with 552. */
  maxMessageBytes?: number;
}

/** A running sink. */
export interface SmtpSink {
  readonly port: number;
  /** `smtp://<host>:<port>`, ready for the mailer's `smtpUrl`. */
  readonly url: string;
  /** Every message received so far, oldest first. */
  messages(): readonly StoredMail[];
  /** Refuses new connections and transactions with 421 for `ms` milliseconds from now. */
  refuseFor(ms: number): void;
  /** Refuses new connections and transactions with 421 until {@link SmtpSink.acceptAgain}. */
  refuseUntilCleared(): void;
  /** Ends any refusal. */
  acceptAgain(): void;
  /** Forgets the stored messages. */
  clear(): void;
  /** Stops listening and ends open sessions (including a mailer's pooled ones). */
  close(): Promise<void>;
}

/** An error whose reply code smtp-server sends to the client. */
function smtpReply(responseCode: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode });
}

/** Starts a sink on loopback. */
export async function startSmtpSink(options: SmtpSinkOptions = {}): Promise<SmtpSink> {
  const host = options.host ?? '127.0.0.1';
  const log = options.log ?? (() => undefined);
  const rejectRecipient = options.rejectRecipients ?? (() => false);
  const stored: StoredMail[] = [];
  // Compared with the clock when a client arrives, so a refusal needs no timer of its own.
  let refusedUntil = 0;
  const refusing = (): boolean => Date.now() < refusedUntil;

  const server = new SMTPServer({
    name: 'baton-smtp-sink',
    banner: 'baton SMTP sink',
    // Loopback only and no secrets: no TLS, no login.
    secure: false,
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    size: options.maxMessageBytes ?? 1024 * 1024,
    disableReverseLookup: true,
    logger: false,
    onConnect(_session: SMTPServerSession, callback: (error?: Error | null) => void) {
      if (refusing()) {
        log('smtp sink refused a connection (421)');
        callback(smtpReply(421, 'baton SMTP sink is refusing connections, try again later'));
        return;
      }
      callback();
    },
    onMailFrom(_address: SMTPServerAddress, _session: SMTPServerSession, callback) {
      // A pooled client keeps its connection open, so a refusal must also reach transactions on it.
      if (refusing()) {
        log('smtp sink refused a transaction (421)');
        callback(smtpReply(421, 'baton SMTP sink is refusing mail, try again later'));
        return;
      }
      callback();
    },
    onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, callback) {
      if (rejectRecipient(address.address)) {
        log('smtp sink refused a recipient (550)');
        callback(smtpReply(550, 'mailbox unavailable'));
        return;
      }
      callback();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        if (stream.sizeExceeded) {
          callback(smtpReply(552, 'message exceeds the size limit'));
          return;
        }
        const raw = Buffer.concat(chunks);
        const parsed = parseMail(raw);
        const { mailFrom, rcptTo } = session.envelope;
        const mail: StoredMail = {
          messageId: parsed.messageId,
          correlationId: parsed.headers.get(CORRELATION_ID_HTTP_HEADER.toLowerCase())?.[0],
          from: mailFrom === false ? '' : mailFrom.address,
          to: rcptTo.map((recipient) => recipient.address),
          subject: parsed.subject,
          text: parsed.text,
          raw: raw.toString('utf8'),
          receivedAt: new Date().toISOString(),
        };
        if (parsed.html !== undefined) mail.html = parsed.html;
        stored.push(mail);
        log(`smtp sink received ${mail.messageId ?? '(no Message-ID)'} "${mail.subject}"`);
        callback();
      });
    },
  });
  server.on('error', (error: Error) => log(`smtp sink error: ${error.message}`));

  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.server.address() as AddressInfo;

  return {
    port,
    url: `smtp://${host}:${port}`,
    messages: () => [...stored],
    refuseFor: (ms) => {
      refusedUntil = Date.now() + ms;
    },
    refuseUntilCleared: () => {
      refusedUntil = Number.POSITIVE_INFINITY;
    },
    acceptAgain: () => {
      refusedUntil = 0;
    },
    clear: () => {
      stored.length = 0;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Idle sessions (a mailer's pool) would otherwise hold the server open for its 30 s grace period.
        for (const connection of server.connections) connection.send(421, 'baton SMTP sink shutting down');
      }),
  };
}
