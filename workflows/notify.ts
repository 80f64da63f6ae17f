/**
 * Telling a customer something, from inside a workflow: on their channel, falling back from SMS to email when SMS
 * fails for good, and recording a message that cannot be delivered instead of failing the process for it.
 */
import { ActivityFailure } from '@temporalio/workflow';
import type { MessageContent, NotificationActivities } from '../activities/notifications';
import { DeliveryOutcome } from '../domain/customer-terms';
import type { Channel } from '../domain/customer-terms';
import { proxySummarizedActivities, proxySummarizedLocalActivities } from './activity-summary';
import { retryForAWhile } from './retry-presets';

const {
  sendSms,
  sendEmail,
  contactForAccount: findContact,
} = proxySummarizedActivities<NotificationActivities>({
  startToCloseTimeout: '30 seconds',
  retry: retryForAWhile,
});

/** How a delivery ended, and why when it did not go as chosen. */
export interface Delivery {
  outcome: DeliveryOutcome;
  detail?: string;
}

async function attempt(send: () => Promise<Awaited<ReturnType<NotificationActivities['sendEmail']>>>) {
  try {
    return await send();
  } catch (err) {
    // Retries ran out on a transient fault: as final as a refusal, for this message.
    if (err instanceof ActivityFailure) {
      return { status: 'rejected' as const, reason: err.cause?.message ?? 'the provider kept failing' };
    }
    throw err;
  }
}

/** Sends `content` to the customer under `key` (one message per key, ever) on `channel`. */
export async function deliver(input: {
  customerId: string;
  channel: Channel;
  key: string;
  content: MessageContent;
}): Promise<Delivery> {
  const message = { customerId: input.customerId, key: input.key, content: input.content };
  let fellBack = false;
  let smsDetail: string | undefined;
  if (input.channel === 'sms') {
    const what = input.content.kind === 'welcome' ? 'welcome' : 'payment outcome';
    const sms = await attempt(() => sendSms(`send the ${what} by SMS`, message));
    if (sms.status === 'sent') return { outcome: DeliveryOutcome.SentSms };
    if (sms.status === 'in_doubt') return { outcome: DeliveryOutcome.Undeliverable, detail: sms.reason };
    fellBack = true;
    smsDetail = `SMS refused: ${sms.reason}`;
  }
  const email = await attempt(() =>
    sendEmail(
      `send the ${input.content.kind === 'welcome' ? 'welcome' : 'payment outcome'} by email`,
      message,
    ),
  );
  if (email.status === 'sent') {
    return fellBack
      ? {
          outcome: DeliveryOutcome.FellBackToEmail,
          ...(smsDetail === undefined ? {} : { detail: smsDetail }),
        }
      : { outcome: DeliveryOutcome.SentEmail };
  }
  return {
    outcome: DeliveryOutcome.Undeliverable,
    detail: [smsDetail, `email ${email.status === 'rejected' ? 'refused' : 'in doubt'}: ${email.reason}`]
      .filter((part) => part !== undefined)
      .join('; '),
  };
}

// A look-up in baton's own database, short and read-only: as a local activity it needs no task of its own.
const { contactForAccount: findContactLocally } = proxySummarizedLocalActivities<NotificationActivities>({
  startToCloseTimeout: '30 seconds',
  retry: retryForAWhile,
});

/**
 * The customer behind a ledger account, and their channel, if any; `local` looks it up as a local activity (the
 * payment's lean steps).
 */
export async function contactForAccount(accountId: string, { local = false }: { local?: boolean } = {}) {
  const find = local ? findContactLocally : findContact;
  return (await find(`find the customer of ${accountId}`, { accountId })).contact;
}
