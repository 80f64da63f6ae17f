/**
 * Notification activities: send one message to a customer by email or SMS, at most once per key. The workflow
 * passes only ids and the message's content; the customer's name and address are read here, so they never enter
 * a workflow's history through this path.
 *
 * Each send is claimed in the send log before the provider is called and its answer recorded after. A refusal
 * that will not improve (bad number, dead mailbox) is returned, not thrown, so the workflow can choose another
 * channel; a transient fault is thrown, so Temporal retries it.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import type { CustomerStore } from '../services/customers';
import type { Ledger } from '../services/ledger';
import { MailPermanentError } from '../services/mail';
import type { Mailer, MailMessage } from '../services/mail';
import type { SendLog, SendState } from '../services/send-log/send-log';
import { SmsPermanentError, SmsTransientError } from '../services/sms';
import type { TwilioSms } from '../services/sms';
import { renderSmsText } from '../services/mail';
import { RegistrationFailureType } from '../workflows/registration-contract';
import type { Channel } from '../domain/customer-terms';
import { currentCorrelationId } from './correlation';

/** The services notifications go through. */
export interface NotificationServices {
  customers: CustomerStore;
  ledger: Ledger;
  sendLog: SendLog;
  mailer: Mailer;
  sms: TwilioSms;
}

/** What a message says, without who it is for: the activity adds the customer's name. */
export type MessageContent = MailMessage extends infer M
  ? M extends MailMessage
    ? Omit<M, 'name'>
    : never
  : never;

/** Input of the send activities. */
export interface SendInput {
  customerId: string;
  /** Idempotency key of the message: `<workflowId>:<purpose>`. */
  key: string;
  content: MessageContent;
}

/** How a send ended. `rejected` will never succeed; `in_doubt` may have reached the customer and is not resent. */
export type SendResult =
  | { status: 'sent'; providerId: string | null }
  | { status: 'rejected'; reason: string }
  | { status: 'in_doubt'; reason: string };

/** Who to tell about a payment from an account, if the account belongs to a customer. */
export interface ContactResult {
  contact: { customerId: string; channel: Channel } | null;
}

function withName(content: MessageContent, name: string): MailMessage {
  return { ...content, name };
}

function fromRecord(record: { state: string; providerId: string | null; detail: string | null }): SendResult {
  if (record.state === 'accepted') return { status: 'sent', providerId: record.providerId };
  if (record.state === 'rejected')
    return { status: 'rejected', reason: record.detail ?? 'refused by the provider' };
  return { status: 'in_doubt', reason: record.detail ?? 'an earlier attempt broke off mid-call' };
}

// Refused before the provider could have taken anything: connection never made.
const NOT_SENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH']);

function neverReachedProvider(err: SmsTransientError): boolean {
  if (err.httpStatus !== undefined) return true;
  const cause: unknown = err.cause;
  const code = typeof cause === 'object' && cause !== null && 'code' in cause ? cause.code : undefined;
  return typeof code === 'string' && NOT_SENT_CODES.has(code);
}

/**
 * Records the provider's answer, retrying a few times over about six seconds: once the provider has answered, a
 * database blip that loses the answer costs a resent email or an SMS wrongly held in doubt.
 */
async function record(
  sendLog: SendLog,
  key: string,
  state: Exclude<SendState, 'pending'>,
  detail?: string,
  providerId?: string,
): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await sendLog.finish(key, state, detail, providerId);
      return;
    } catch (err) {
      if (attempt >= 5) throw err;
      await sleep(200 * 2 ** attempt);
    }
  }
}

/** Builds the notification activities over the given services. */
export function createNotificationActivities({
  customers,
  ledger,
  sendLog,
  mailer,
  sms,
}: NotificationServices) {
  async function customerOf(customerId: string) {
    const customer = await customers.get(customerId);
    if (customer === undefined) {
      throw ApplicationFailure.create({
        type: RegistrationFailureType.CustomerNotFound,
        message: `no customer ${customerId}`,
        nonRetryable: true,
        category: 'BENIGN',
      });
    }
    return customer;
  }

  return {
    /** Emails the customer. The deterministic Message-ID makes a resend after a crash a copy receivers drop. */
    async sendEmail({ customerId, key, content }: SendInput): Promise<SendResult> {
      const customer = await customerOf(customerId);
      const sendKey = `${key}:email`;
      const claim = await sendLog.claim(sendKey, 'email', { resendPending: true });
      if (!claim.send) return fromRecord(claim.record);
      let messageId: string;
      try {
        ({ messageId } = await mailer.send({
          to: customer.email,
          message: withName(content, customer.name),
          idempotencyKey: key,
          correlationId: currentCorrelationId(),
        }));
      } catch (err) {
        if (err instanceof MailPermanentError) {
          await record(sendLog, sendKey, 'rejected', err.message);
          return { status: 'rejected', reason: err.message };
        }
        await record(sendLog, sendKey, 'retryable', err instanceof Error ? err.message : String(err));
        throw err;
      }
      // Outside the try: a database failure here is not the mail server refusing, and must not mark a message the
      // server took as safe to send again.
      await record(sendLog, sendKey, 'accepted', undefined, messageId);
      return { status: 'sent', providerId: messageId };
    },

    /** Texts the customer. Twilio has no idempotency key: once it may have the message, it is never sent again. */
    async sendSms({ customerId, key, content }: SendInput): Promise<SendResult> {
      const customer = await customerOf(customerId);
      if (customer.phone === null) return { status: 'rejected', reason: 'the customer has no phone number' };
      const sendKey = `${key}:sms`;
      const claim = await sendLog.claim(sendKey, 'sms', { resendPending: false });
      if (!claim.send) return fromRecord(claim.record);
      let sid: string;
      try {
        ({ sid } = await sms.send({
          to: customer.phone,
          body: renderSmsText(withName(content, customer.name)),
        }));
      } catch (err) {
        if (err instanceof SmsPermanentError) {
          await record(sendLog, sendKey, 'rejected', err.reason);
          return { status: 'rejected', reason: err.reason };
        }
        if (err instanceof SmsTransientError && neverReachedProvider(err)) {
          await record(sendLog, sendKey, 'retryable', err.message);
          throw err;
        }
        const reason = 'the SMS provider did not answer; it may have the message, so it is not sent again';
        await record(sendLog, sendKey, 'in_doubt', reason);
        return { status: 'in_doubt', reason };
      }
      // Outside the try: Twilio took it, whatever the database says next; a failure to record that is not a provider
      // failure. (If it keeps failing, the retry finds the send pending and holds it in doubt: never sent twice.)
      await record(sendLog, sendKey, 'accepted', undefined, sid);
      return { status: 'sent', providerId: sid };
    },

    /** The customer behind a ledger account and the channel they chose, if the account is a customer's. */
    async contactForAccount({ accountId }: { accountId: string }): Promise<ContactResult> {
      const account = await ledger.getAccount(accountId);
      if (account?.customerId == null) return { contact: null };
      const customer = await customers.get(account.customerId);
      if (customer === undefined) return { contact: null };
      return { contact: { customerId: customer.id, channel: customer.channel } };
    },
  };
}

/** The notification activities, as workflows see their types. */
export type NotificationActivities = ReturnType<typeof createNotificationActivities>;
