/**
 * Every custom search attribute baton registers, with its type. They make runs findable in the UI and by `list`,
 * and so carry ids, statuses and amounts only — never personal data (search attributes are not encrypted).
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Typed keys of baton's search attributes. */
export const searchAttributeKeys = {
  paymentStatus: defineSearchAttributeKey('PaymentStatus', SearchAttributeType.KEYWORD),
  customerId: defineSearchAttributeKey('CustomerId', SearchAttributeType.KEYWORD),
  amlDecision: defineSearchAttributeKey('AmlDecision', SearchAttributeType.KEYWORD),
  paymentAmount: defineSearchAttributeKey('PaymentAmount', SearchAttributeType.INT),
  paymentCurrency: defineSearchAttributeKey('PaymentCurrency', SearchAttributeType.KEYWORD),
  registrationStatus: defineSearchAttributeKey('RegistrationStatus', SearchAttributeType.KEYWORD),
  /** The initiator's correlation id: every run of one business process shares it. */
  correlationId: defineSearchAttributeKey('CorrelationId', SearchAttributeType.KEYWORD),
};

/** The type of a keyword attribute's key (the SDK defines the key type but does not export its name). */
export type KeywordAttributeKey = typeof searchAttributeKeys.paymentStatus;

const serverTypeNames: Record<string, string> = {
  [SearchAttributeType.KEYWORD]: 'Keyword',
  [SearchAttributeType.INT]: 'Int',
};

/** Name => server type name of every attribute, as the dev server flags and `temporal operator` take them. */
export const SEARCH_ATTRIBUTES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.values(searchAttributeKeys).map((key) => [key.name, serverTypeNames[key.type] ?? 'Keyword']),
);
