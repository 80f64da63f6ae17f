/** The words of a payment that every layer shares: who is paid, what screening decided, what the bank reported. */
/** Outcome of AML screening. */
export const AmlDecision = {
  /** No match worth a look: continue. */
  Clear: 'clear',
  /** A possible match: a person must decide. */
  Review: 'review',
  /** A confident match: reject. */
  Hit: 'hit',
} as const;
/** One of {@link AmlDecision}. */
export type AmlDecision = (typeof AmlDecision)[keyof typeof AmlDecision];

/** Final statuses the bank reports. */
export const BankOutcome = {
  /** Paid to the beneficiary. */
  Settled: 'settled',
  /** Refused by the bank. */
  Failed: 'failed',
  /** Paid, then sent back by the beneficiary's bank. */
  Returned: 'returned',
} as const;
/** One of {@link BankOutcome}. */
export type BankOutcome = (typeof BankOutcome)[keyof typeof BankOutcome];

/** Who is paid. Never put any of this in ids, search attributes or logs. */
export interface Beneficiary {
  name: string;
  /** ISO 3166-1 alpha-2 country code. */
  country: string;
  /** IBAN, or else a plain account number. */
  iban?: string;
  accountNumber?: string;
}
