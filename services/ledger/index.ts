/** The double-entry ledger service: plain TypeScript over PostgreSQL or embedded PGlite. */
export { Ledger } from './ledger';
export type {
  Account,
  AccountKind,
  CurrencyTotal,
  LedgerOptions,
  OpenAccountInput,
  ReverseInput,
  SystemAccountKind,
  Transfer,
  TransferInput,
} from './ledger';
export { LedgerError, isLedgerError } from './errors';
export type { LedgerErrorCode, LedgerErrorContext } from './errors';
