/**
 * The messages baton sends to customers, rendered from one description into a subject, a plain-text body, an HTML
 * body and a short SMS text. Subjects carry ids only, never the customer's name, so logs that print a subject stay
 * free of personal data.
 */

/** How a payment ended, as the customer is told. */
export type PaymentOutcomeKind = 'settled' | 'failed' | 'rejected' | 'cancelled';

/** The welcome sent once a registration has opened the customer's account. */
export interface WelcomeMessage {
  kind: 'welcome';
  name: string;
  customerId: string;
  accountId: string;
  currency: string;
}

/** The notice of a payment's final outcome. */
export interface PaymentOutcomeMessage {
  kind: 'payment_outcome';
  name: string;
  paymentId: string;
  outcome: PaymentOutcomeKind;
  /** Already formatted for people, e.g. `12.34 EUR`. */
  amount: string;
  /** Why it did not go through, in words a customer understands. */
  reason?: string;
}

/** A watchdog finding, told once to the operator address (never to a customer). */
export interface OpsAlertMessage {
  kind: 'ops_alert';
  /** Whom the greeting names: the operators' role, not a person. */
  name: string;
  findingId: number;
  findingKind: string;
  severity: 'critical' | 'warning';
  businessId: string;
  since: string;
  /** Ids, statuses and amounts only. */
  summary: string;
  action: string;
  /** The run in the Temporal UI, when there is one. */
  link?: string;
}

/** Every message baton sends, by kind. */
export type MailMessage = WelcomeMessage | PaymentOutcomeMessage | OpsAlertMessage;

/** A message ready for an email: subject, plain text and HTML carrying the same words. */
export interface RenderedMessage {
  subject: string;
  text: string;
  html: string;
}

/** The longest SMS text {@link renderSmsText} produces (two concatenated segments). */
export const SMS_MAX_LENGTH = 300;

const SIGNATURE = 'baton';

const HTML_ESCAPES: Readonly<Record<string, string>> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
};

/** Escapes `& < > " '` so a value can stand in HTML text or a quoted attribute. */
export function escapeHtml(value: string): string {
  return value.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character] ?? character);
}

/**
 * The words of a message before they are laid out: a greeting, paragraphs and labelled facts. Every piece is plain
 * text; the HTML layout escapes each one, so no template can forget to.
 */
interface MessageCopy {
  subject: string;
  paragraphs: string[];
  facts: Array<[label: string, value: string]>;
}

const OUTCOME_SUBJECTS: Record<PaymentOutcomeKind, (paymentId: string) => string> = {
  settled: (id) => `Your payment ${id} is complete`,
  failed: (id) => `Your payment ${id} could not be completed`,
  rejected: (id) => `Your payment ${id} was not made`,
  cancelled: (id) => `Your payment ${id} was cancelled`,
};

const OUTCOME_SENTENCES: Record<PaymentOutcomeKind, (amount: string) => string> = {
  settled: (amount) => `Your payment of ${amount} is complete: the bank has settled it with the beneficiary.`,
  failed: (amount) =>
    `The bank could not complete your payment of ${amount}. The amount is back in your account.`,
  rejected: (amount) =>
    `We could not make your payment of ${amount}. Any amount held for it is back in your account.`,
  cancelled: (amount) =>
    `Your payment of ${amount} was cancelled as you asked. Any amount held for it is back in your account.`,
};

function copyOf(message: MailMessage): MessageCopy {
  switch (message.kind) {
    case 'welcome':
      return {
        subject: 'Welcome to baton',
        paragraphs: [
          'Welcome to baton. Your account is open and ready to use.',
          'If you did not sign up, just reply to this email and we will close the account.',
        ],
        facts: [
          ['Customer number', message.customerId],
          ['Account', `${message.accountId} (${message.currency})`],
        ],
      };
    case 'payment_outcome': {
      const paragraphs = [OUTCOME_SENTENCES[message.outcome](message.amount)];
      if (message.reason !== undefined && message.reason.trim() !== '') {
        paragraphs.push(`Reason: ${message.reason.trim()}`);
      }
      return {
        subject: OUTCOME_SUBJECTS[message.outcome](message.paymentId),
        paragraphs,
        facts: [
          ['Payment', message.paymentId],
          ['Amount', message.amount],
        ],
      };
    }
    case 'ops_alert':
      return {
        subject: `[baton watchdog] ${message.severity}: ${message.findingKind} ${message.businessId}`,
        paragraphs: [message.summary, `What to do: ${message.action}`],
        facts: [
          ['Finding', `#${message.findingId} ${message.findingKind}`],
          ['About', message.businessId],
          ['Since', message.since],
          ...(message.link === undefined ? [] : ([['Run', message.link]] as Array<[string, string]>)),
        ],
      };
  }
}

/** Renders a message into an email's subject, plain-text body and HTML body. */
export function renderMessage(message: MailMessage): RenderedMessage {
  const copy = copyOf(message);
  const greeting = `Hello ${message.name},`;

  const text = [
    greeting,
    '',
    ...copy.paragraphs.flatMap((paragraph) => [paragraph, '']),
    ...copy.facts.map(([label, value]) => `${label}: ${value}`),
    '',
    'Thank you,',
    SIGNATURE,
    '',
  ].join('\n');

  const html = [
    '<!doctype html>',
    '<html>',
    `<head><meta charset="utf-8"><title>${escapeHtml(copy.subject)}</title></head>`,
    '<body>',
    `<p>${escapeHtml(greeting)}</p>`,
    ...copy.paragraphs.map((paragraph) => `<p>${escapeHtml(paragraph)}</p>`),
    '<table>',
    ...copy.facts.map(
      ([label, value]) => `<tr><th align="left">${escapeHtml(label)}</th><td>${escapeHtml(value)}</td></tr>`,
    ),
    '</table>',
    `<p>Thank you,<br>${escapeHtml(SIGNATURE)}</p>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');

  return { subject: copy.subject, text, html };
}

/** Collapses line breaks and runs of spaces, and shortens a value to `max` characters. */
function inline(value: string, max: number): string {
  const flat = value.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** Renders a message as one plain SMS text of at most {@link SMS_MAX_LENGTH} characters. */
export function renderSmsText(message: MailMessage): string {
  const name = inline(message.name, 60);
  let sms: string;
  switch (message.kind) {
    case 'welcome':
      sms = `${SIGNATURE}: Welcome, ${name}! Your account ${inline(message.accountId, 40)} (${inline(message.currency, 3)}) is open. Customer number ${inline(message.customerId, 40)}.`;
      break;
    case 'payment_outcome': {
      const sentence = OUTCOME_SENTENCES[message.outcome](inline(message.amount, 30));
      const reason =
        message.reason !== undefined && message.reason.trim() !== ''
          ? ` Reason: ${inline(message.reason, 60)}`
          : '';
      sms = `${SIGNATURE}: Hello ${name}. ${sentence} Ref ${inline(message.paymentId, 40)}.${reason}`;
      break;
    }
    case 'ops_alert':
      sms = `${SIGNATURE} watchdog ${message.severity}: ${inline(message.summary, 200)}`;
      break;
  }
  return inline(sms, SMS_MAX_LENGTH);
}
