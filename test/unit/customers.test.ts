/**
 * Customers and the send log, on embedded PGlite and on the machine's PostgreSQL: the same SQL, the same answers.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CustomerError, CustomerStore, customerIdFor } from '../../services/customers';
import { Ledger } from '../../services/ledger';
import { SendLog } from '../../services/send-log/send-log';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';

const engines = [
  { name: 'PGlite', open: () => Ledger.open({}), cleanup: () => Promise.resolve() },
  (() => {
    const schema = uniqueSchema('customers');
    return {
      name: 'PostgreSQL',
      open: () => Ledger.open({ databaseUrl: TEST_DATABASE_URL, schema }),
      cleanup: () => dropSchema(schema),
    };
  })(),
];

for (const engine of engines) {
  describe(`customers and sends on ${engine.name}`, () => {
    let ledger: Ledger;
    let customers: CustomerStore;
    let sends: SendLog;

    before(async () => {
      ledger = await engine.open();
      customers = new CustomerStore(ledger.database);
      sends = new SendLog(ledger.database);
    });

    after(async () => {
      await ledger.close();
      await engine.cleanup();
    });

    test('creates a customer once per registration, with an id free of personal data', async () => {
      const input = {
        registrationId: 'r-1',
        name: 'Ana Lima',
        email: 'ana@example.com',
        channel: 'email' as const,
      };
      const first = await customers.create(input);
      const again = await customers.create(input);
      assert.equal(again.id, first.id);
      assert.equal(first.id, customerIdFor('r-1'));
      assert.match(first.id, /^C-[0-9A-F]{12}$/);
      assert.equal((await customers.list()).filter((c) => c.registrationId === 'r-1').length, 1);
    });

    test('creates one customer when the same registration races itself, round after round', async () => {
      for (let round = 0; round < 20; round += 1) {
        const input = {
          registrationId: `r-race-${round}`,
          name: 'Race',
          email: `race-${round}@example.com`,
          channel: 'email' as const,
        };
        const created = await Promise.all(Array.from({ length: 5 }, () => customers.create(input)));
        assert.equal(new Set(created.map((c) => c.id)).size, 1, `round ${round}`);
      }
    });

    test('refuses an email another registration holds, compared case-insensitively', async () => {
      await customers.create({
        registrationId: 'r-2',
        name: 'Bo',
        email: 'Bo@Example.com',
        channel: 'email',
      });
      await assert.rejects(
        customers.create({
          registrationId: 'r-3',
          name: 'Bo Again',
          email: 'bo@example.COM',
          channel: 'email',
        }),
        (err: unknown) =>
          err instanceof CustomerError && err.code === 'duplicate_email' && !err.message.includes('bo@'),
      );
      assert.equal(await customers.byRegistration('r-3'), undefined);
    });

    test('changes the channel, and refuses SMS without a phone', async () => {
      const c = await customers.create({
        registrationId: 'r-4',
        name: 'Cy',
        email: 'cy@example.com',
        channel: 'email',
      });
      await assert.rejects(
        customers.setPreference(c.id, 'sms'),
        (err: unknown) => err instanceof CustomerError && err.code === 'phone_required',
      );
      const changed = await customers.setPreference(c.id, 'sms', '+4915100000001');
      assert.equal(changed.channel, 'sms');
      assert.equal(changed.phone, '+4915100000001');
    });

    test('lets a key be sent once, again only after a refusal that makes a retry safe', async () => {
      assert.deepEqual(await sends.claim('k-1', 'sms', { resendPending: false }), { send: true, attempt: 1 });
      await sends.finish('k-1', 'retryable', 'HTTP 500');
      assert.deepEqual(await sends.claim('k-1', 'sms', { resendPending: false }), { send: true, attempt: 2 });
      await sends.finish('k-1', 'accepted', undefined, 'SM1');
      const after = await sends.claim('k-1', 'sms', { resendPending: false });
      assert.equal(after.send, false);
      assert.equal(after.send === false && after.record.providerId, 'SM1');
    });

    test('marks an SMS whose sender died mid-call as in doubt, but resends such an email', async () => {
      await sends.claim('k-sms', 'sms', { resendPending: false });
      const sms = await sends.claim('k-sms', 'sms', { resendPending: false });
      assert.equal(sms.send === false && sms.record.state, 'in_doubt');
      await sends.claim('k-mail', 'email', { resendPending: true });
      assert.deepEqual(await sends.claim('k-mail', 'email', { resendPending: true }), {
        send: true,
        attempt: 2,
      });
    });

    test('gives exactly one claim to concurrent senders of the same key', async () => {
      const claims = await Promise.all(
        Array.from({ length: 6 }, () => sends.claim('k-race', 'sms', { resendPending: false })),
      );
      assert.equal(claims.filter((c) => c.send).length, 1);
    });
  });
}
