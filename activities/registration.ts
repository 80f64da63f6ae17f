/**
 * Registration activities: create the customer and open their ledger account, both idempotent on the
 * registration, and keep their contact preference.
 */
import { ApplicationFailure } from '@temporalio/common';
import { CustomerError } from '../services/customers';
import type { CustomerStore } from '../services/customers';
import type { Ledger } from '../services/ledger';
import { RegistrationFailureType } from '../workflows/registration-contract';
import { customerAccountId } from '../domain/customer-terms';
import type { Channel } from '../domain/customer-terms';

/** The services registration drives. */
export interface RegistrationServices {
  customers: CustomerStore;
  ledger: Ledger;
}

/** Input of {@link RegistrationActivities.createCustomer}. */
export interface CreateCustomerInput {
  registrationId: string;
  name: string;
  email: string;
  phone?: string;
  channel: Channel;
}

/** Builds the registration activities over the given services. */
export function createRegistrationActivities({ customers, ledger }: RegistrationServices) {
  return {
    /** Creates the customer of a registration, once. A taken email address is a business refusal. */
    async createCustomer(input: CreateCustomerInput): Promise<{ customerId: string }> {
      try {
        const customer = await customers.create({ ...input, phone: input.phone ?? null });
        return { customerId: customer.id };
      } catch (err) {
        if (
          err instanceof CustomerError &&
          (err.code === 'duplicate_email' || err.code === 'registration_conflict')
        ) {
          throw ApplicationFailure.create({
            type: RegistrationFailureType.DuplicateEmail,
            message: err.message,
            nonRetryable: true,
            category: 'BENIGN',
          });
        }
        throw err;
      }
    },

    /** Opens the customer's ledger account in the chosen currency, once. */
    async openCustomerAccount({ customerId, currency }: { customerId: string; currency: string }) {
      await ledger.ensureSystemAccounts(currency);
      const account = await ledger.openAccount({
        id: customerAccountId(customerId, currency),
        kind: 'customer',
        customerId,
        currency,
      });
      return { accountId: account.id };
    },

    /** Records the channel the customer wants (and their phone, when they give one). */
    async setContactPreference(input: {
      customerId: string;
      channel: Channel;
      phone?: string;
    }): Promise<void> {
      await customers.setPreference(input.customerId, input.channel, input.phone);
    },
  };
}

/** The registration activities, as the workflow sees their types. */
export type RegistrationActivities = ReturnType<typeof createRegistrationActivities>;
