/**
 * The demo customers the local stack starts with: invented ids, funded accounts. Funding goes through the ledger
 * like any transfer, under fixed idempotency keys, so seeding again never adds money twice.
 */
import { Ledger } from './ledger';

/** A demo customer's account and the balance it is funded with. */
export interface DemoAccount {
  customerId: string;
  accountId: string;
  currency: string;
  fundedMinor: number;
}

/** The demo accounts: a well-funded EUR customer, a nearly empty one, and a USD customer. */
export const DEMO_ACCOUNTS: readonly DemoAccount[] = [
  { customerId: 'C-1001', accountId: 'A-1001-EUR', currency: 'EUR', fundedMinor: 5_000_00 },
  { customerId: 'C-1002', accountId: 'A-1002-EUR', currency: 'EUR', fundedMinor: 40_00 },
  { customerId: 'C-1003', accountId: 'A-1003-USD', currency: 'USD', fundedMinor: 2_500_00 },
];

/** Opens and funds the demo accounts, once. */
export async function seedDemoCustomers(ledger: Ledger): Promise<void> {
  for (const account of DEMO_ACCOUNTS) {
    await ledger.ensureSystemAccounts(account.currency);
    await ledger.openAccount({
      id: account.accountId,
      kind: 'customer',
      customerId: account.customerId,
      currency: account.currency,
    });
    await ledger.transfer({
      idempotencyKey: `seed:${account.accountId}`,
      fromAccountId: Ledger.systemAccountId('funding', account.currency),
      toAccountId: account.accountId,
      amountMinor: account.fundedMinor,
      currency: account.currency,
    });
  }
}
