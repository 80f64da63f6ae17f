/** The words about a customer that every layer shares: how they want to hear from baton, and how a message ended. */

/** How a customer wants to hear from baton. */
export const Channel = {
  /** By email, through SMTP. */
  Email: 'email',
  /** By SMS, through Twilio. */
  Sms: 'sms',
} as const;
/** One of {@link Channel}. */
export type Channel = (typeof Channel)[keyof typeof Channel];

/** How a message to the customer ended. */
export const DeliveryOutcome = {
  /** Delivered by email, as chosen. */
  SentEmail: 'sent_email',
  /** Delivered by SMS, as chosen. */
  SentSms: 'sent_sms',
  /** SMS was refused for good (invalid or unsubscribed number), so it went by email. */
  FellBackToEmail: 'fell_back_to_email',
  /** It could not be delivered on any channel; recorded, and the process went on. */
  Undeliverable: 'undeliverable',
} as const;
/** One of {@link DeliveryOutcome}. */
export type DeliveryOutcome = (typeof DeliveryOutcome)[keyof typeof DeliveryOutcome];

/** The ledger account id of a customer's account in a currency. */
export function customerAccountId(customerId: string, currency: string): string {
  return `A-${customerId.replace(/^C-/, '')}-${currency}`;
}
