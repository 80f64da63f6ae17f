/** The bank gateway: client, wire messages and webhook signatures. */
export { BankClient, BankRejectedError, BankUnavailableError } from './client';
export type { BankClientOptions, SubmitPaymentInput } from './client';
export * from './messages';
export * from './signature';
