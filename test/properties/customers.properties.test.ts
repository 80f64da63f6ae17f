/**
 * Property test for customer creation on PostgreSQL: concurrent batches of registrations that share registration
 * ids and email addresses (in other letter cases too) must end as some serial order of the batch would, both in
 * what each call answered and in the customers stored. Retries of one registration racing each other are the
 * case a worker meets when an activity attempt times out while the first is still running.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from '../support/fast-check';
import { CustomerError, CustomerStore, customerIdFor } from '../../services/customers';
import { ledgerOnPostgresPerSuite } from '../support/ledger';

interface Call {
  registration: number;
  email: number;
  upperCase: boolean;
}

/** What the store holds: registration id => email as given, and lower-cased email => registration id. */
interface Model {
  emailOf: Map<string, string>;
  ownerOf: Map<string, string>;
}

const callArb = fc.record({
  registration: fc.integer({ min: 0, max: 2 }),
  email: fc.integer({ min: 0, max: 2 }),
  upperCase: fc.boolean(),
});
const batchesArb = fc.array(fc.array(callArb, { minLength: 2, maxLength: 5 }), {
  minLength: 1,
  maxLength: 3,
});

/** The answer a serial store gives to `create`, applied to `model`. */
function serialAnswer(model: Model, registrationId: string, email: string): string {
  const existing = model.emailOf.get(registrationId);
  if (existing !== undefined) {
    return existing.toLowerCase() === email.toLowerCase()
      ? `customer ${customerIdFor(registrationId)}`
      : 'registration_conflict';
  }
  if (model.ownerOf.has(email.toLowerCase())) return 'duplicate_email';
  model.emailOf.set(registrationId, email);
  model.ownerOf.set(email.toLowerCase(), registrationId);
  return `customer ${customerIdFor(registrationId)}`;
}

function* permutations<T>(items: readonly T[]): Generator<T[]> {
  if (items.length <= 1) {
    yield [...items];
    return;
  }
  for (let i = 0; i < items.length; i += 1) {
    const rest = [...items.slice(0, i), ...items.slice(i + 1)];
    for (const tail of permutations(rest)) yield [items[i] as T, ...tail];
  }
}

function copy(model: Model): Model {
  return { emailOf: new Map(model.emailOf), ownerOf: new Map(model.ownerOf) };
}

describe('customer properties on PostgreSQL', () => {
  const suiteLedger = ledgerOnPostgresPerSuite('customer_props', 8);
  let run = 0;

  it(
    'explains every concurrent batch of registrations by some serial order',
    { timeout: 240_000 },
    async () => {
      const customers = new CustomerStore(suiteLedger().database);
      await fc.assert(
        fc.asyncProperty(batchesArb, async (batches) => {
          run += 1;
          // Each run has ids and addresses of its own, so runs sharing the schema never meet.
          const registrationId = (call: Call) => `run${run}-r${call.registration}`;
          const emailOf = (call: Call) => {
            const address = `run${run}-person${call.email}@example.com`;
            return call.upperCase ? address.toUpperCase() : address;
          };
          let model: Model = { emailOf: new Map(), ownerOf: new Map() };
          for (const [index, batch] of batches.entries()) {
            const outcomes = await Promise.allSettled(
              batch.map((call) =>
                customers.create({
                  registrationId: registrationId(call),
                  name: 'Property Person',
                  email: emailOf(call),
                  channel: 'email',
                }),
              ),
            );
            const answers = outcomes.map((outcome) =>
              outcome.status === 'fulfilled'
                ? `customer ${outcome.value.id}`
                : outcome.reason instanceof CustomerError
                  ? outcome.reason.code
                  : `unexpected ${String(outcome.reason)}`,
            );
            const stored = new Map(
              (await customers.list())
                .filter((customer) => customer.registrationId.startsWith(`run${run}-`))
                .map((customer) => [customer.registrationId, customer.email]),
            );

            let explained: Model | undefined;
            for (const order of permutations(batch.map((call, position) => ({ call, position })))) {
              const trial = copy(model);
              const serial: string[] = [];
              for (const { call, position } of order) {
                serial[position] = serialAnswer(trial, registrationId(call), emailOf(call));
              }
              const sameStore =
                trial.emailOf.size === stored.size &&
                [...trial.emailOf].every(([registration, email]) => stored.get(registration) === email);
              if (sameStore && serial.every((answer, position) => answer === answers[position])) {
                explained = trial;
                break;
              }
            }
            assert.ok(
              explained,
              `batch ${index}: no serial order explains ${JSON.stringify(
                batch.map(
                  (call, position) => `${registrationId(call)} ${emailOf(call)} => ${answers[position]}`,
                ),
              )} with stored ${JSON.stringify([...stored])}`,
            );
            model = explained;
          }
        }),
        { numRuns: 40, includeErrorInReport: true },
      );
    },
  );
});
