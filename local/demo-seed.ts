/**
 * The demo customers the local stack starts with: invented people with example.com addresses and Twilio's test
 * numbers, each with a funded account. Funding goes through the ledger like any transfer, under fixed idempotency
 * keys, so seeding again never adds money twice.
 */
import type { CustomerStore } from '../services/customers';
import { Ledger } from '../services/ledger';

/** A demo customer, their account and the balance it is funded with. */
export interface DemoCustomer {
  customerId: string;
  name: string;
  email: string;
  phone: string | null;
  channel: 'email' | 'sms';
  accountId: string;
  currency: string;
  fundedMinor: number;
}

/** The demo customers: a well-funded EUR customer, a nearly empty one who prefers SMS, and a USD customer. */
export const DEMO_CUSTOMERS: readonly DemoCustomer[] = [
  {
    customerId: 'C-1001',
    name: 'Ada Demo',
    email: 'ada.demo@example.com',
    phone: null,
    channel: 'email',
    accountId: 'A-1001-EUR',
    currency: 'EUR',
    fundedMinor: 5_000_00,
  },
  {
    customerId: 'C-1002',
    name: 'Bo Demo',
    email: 'bo.demo@example.com',
    phone: '+15005550006',
    channel: 'sms',
    accountId: 'A-1002-EUR',
    currency: 'EUR',
    fundedMinor: 40_00,
  },
  {
    customerId: 'C-1003',
    name: 'Cy Demo',
    email: 'cy.demo@example.com',
    phone: null,
    channel: 'email',
    accountId: 'A-1003-USD',
    currency: 'USD',
    fundedMinor: 2_500_00,
  },
];

/** Creates and funds the demo customers, once. */
export async function seedDemoCustomers(ledger: Ledger, customers: CustomerStore): Promise<void> {
  for (const demo of DEMO_CUSTOMERS) {
    await customers.create({
      id: demo.customerId,
      registrationId: `seed-${demo.customerId}`,
      name: demo.name,
      email: demo.email,
      phone: demo.phone,
      channel: demo.channel,
    });
    await ledger.ensureSystemAccounts(demo.currency);
    await ledger.openAccount({
      id: demo.accountId,
      kind: 'customer',
      customerId: demo.customerId,
      currency: demo.currency,
    });
    await ledger.transfer({
      idempotencyKey: `seed:${demo.accountId}`,
      fromAccountId: Ledger.systemAccountId('funding', demo.currency),
      toAccountId: demo.accountId,
      amountMinor: demo.fundedMinor,
      currency: demo.currency,
    });
  }
}
