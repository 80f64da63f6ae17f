/** The bank gateway: client, wire messages, webhook signatures and the local simulator. */
export { BankClient, BankRejectedError, BankUnavailableError } from './client';
export type { BankClientOptions } from './client';
export * from './messages';
export * from './signature';
export { startBankSimulator } from './simulator';
export type { BankSimulator, BankSimulatorOptions } from './simulator';
