/**
 * Hostile input at every door baton opens — the CLI, the bank's webhook endpoint, the codec server, and the payment
 * and registration workflows themselves — on the real local stack (dev server, PostgreSQL, bank simulator, worker,
 * webhook receiver, SMTP and Twilio sinks). Each row of each table is one refusal that must name its field. Across
 * each table nothing the client refused starts a run and no money moves; after the tables every server still serves.
 */
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { ApplicationFailure, defaultPayloadConverter } from '@temporalio/common';
import { JSONToPayload, payloadToJSON } from '@temporalio/common/lib/proto-utils';
import type { JSONPayload } from '@temporalio/common/lib/proto-utils';
import { startPayment } from '../../client/payments';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import { SIGNATURE_HEADER, signWebhook } from '../../services/bank';
import { EncryptionCodec, MAX_BODY_BYTES, startCodecServer } from '../../temporal/codec';
import { generateKey, parseKeyRing } from '../../config/key-ring';
import type { CodecServer } from '../../temporal/codec';
import { Ledger } from '../../services/ledger';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import { MAX_WEBHOOK_BODY_BYTES } from '../../workers/webhook-receiver';
import {
  PaymentFailureType,
  PaymentStatus,
  paymentStatusQuery,
  paymentWorkflowId,
} from '../../workflows/payment-contract';
import type { PaymentRequest, PaymentState } from '../../workflows/payment-contract';
import { RegistrationFailureType, registrationWorkflowId } from '../../workflows/registration-contract';
import type { RegistrationRequest, RegistrationState } from '../../workflows/registration-contract';
import { runCli } from '../support/cli';
import type { CliRun } from '../support/cli';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';

const SECRET = 'hostile-input-webhook-secret';
const TOKEN = 'hostile-input-codec-token-0123456789';
const UI_ORIGIN = 'http://localhost:8233';
const IBAN = 'DE89370400440532013000';
const PAYER = 'A-1001-EUR';
/** A funded customer account, closed before the tables run. */
const CLOSED = 'A-HX-CLOSED-EUR';
/** Bounded parallelism: each CLI row is a process of its own, and the machine has two cores. */
const CLI_CONCURRENCY = 4;

const schema = uniqueSchema('hostile');
let stack: LocalStack;
let codec: CodecServer;
let env: NodeJS.ProcessEnv;

const cli = (...args: string[]) => runCli(env, ...args);

// --- What "no money moved" means: every balance and the number of transfers, compared across a table.

interface Books {
  balances: Record<string, number>;
  transfers: number;
  customers: number;
}

async function books(): Promise<Books> {
  const accounts = await stack.ledger.listAccounts();
  return {
    balances: Object.fromEntries(accounts.map((account) => [account.id, account.balance])),
    transfers: (await stack.ledger.listTransfers()).length,
    customers: (await stack.customers.list()).length,
  };
}

async function assertBooksBalance(): Promise<void> {
  for (const total of await stack.ledger.balanceTotals())
    assert.equal(total.sum, 0, `${total.currency} sums to 0`);
  assert.equal(await stack.ledger.entriesImbalance(), 0);
  assert.equal(await stack.ledger.balanceDrift(), 0);
}

async function assertNoRun(workflowId: string): Promise<void> {
  await assert.rejects(
    stack.client.workflow.getHandle(workflowId).describe(),
    WorkflowNotFoundError,
    `no run of ${workflowId} may exist`,
  );
}

// --- The CLI's inputs.

type Flags = Record<string, string | null>;

function flagArgs(command: string, defaults: Record<string, string>, changes: Flags): string[] {
  const flags: Record<string, string> = { ...defaults };
  for (const [flag, value] of Object.entries(changes)) {
    if (value === null) delete flags[flag];
    else flags[flag] = value;
  }
  // `--flag=value`, so a value that starts with "-" is a value, as a person quoting it would mean.
  return [command, ...Object.entries(flags).map(([flag, value]) => `${flag}=${value}`)];
}

const payArgs = (id: string, changes: Flags = {}) =>
  flagArgs(
    'pay',
    {
      '--from': PAYER,
      '--to-name': AML_DEMO_NAMES.clear,
      '--to-iban': IBAN,
      '--to-country': 'DE',
      '--amount': '12.34',
      '--currency': 'EUR',
      '--id': id,
    },
    changes,
  );

const registerArgs = (id: string, changes: Flags = {}) =>
  flagArgs(
    'register',
    {
      '--name': 'Hostile Input Tester',
      '--email': `${id}@example.com`,
      '--channel': 'email',
      '--currency': 'EUR',
      '--id': id,
    },
    changes,
  );

interface CliRefusal {
  name: string;
  args: string[];
  /** What stderr must say: the field (flag) and what is wrong with it. */
  says: RegExp;
  /** The run that must not exist afterwards. */
  workflowId?: string;
}

let cliRow = 0;
function pay(name: string, changes: Flags, says: RegExp): CliRefusal {
  const id = `hx-cli-${++cliRow}`;
  return { name, args: payArgs(id, changes), says, workflowId: paymentWorkflowId(changes['--id'] ?? id) };
}
function reg(name: string, changes: Flags, says: RegExp): CliRefusal {
  const id = `hx-reg-${++cliRow}`;
  return {
    name,
    args: registerArgs(id, changes),
    says,
    workflowId: registrationWorkflowId(changes['--id'] ?? id),
  };
}

const HUGE_DIGITS = '9'.repeat(400);
const LONG_NAME = 'N'.repeat(141);

const CLI_REFUSALS: CliRefusal[] = [
  // Amounts.
  pay('a negative amount', { '--amount': '-5' }, /--amount: amount "-5" is not a plain decimal/),
  {
    name: 'a negative amount given as a separate argument',
    args: [...payArgs('hx-cli-sep', { '--amount': null }), '--amount', '-5'],
    says: /--amount/,
    workflowId: paymentWorkflowId('hx-cli-sep'),
  },
  pay('a zero amount', { '--amount': '0' }, /--amount: .*must be greater than zero/),
  pay('more decimals than EUR has', { '--amount': '12.345' }, /--amount: .*more than 2 decimals for EUR/),
  pay('decimals on JPY', { '--amount': '1.5', '--currency': 'JPY' }, /--amount: .*JPY has no minor unit/),
  pay('more decimals than KWD has', { '--amount': '1.2345', '--currency': 'KWD' }, /--amount: .*3 decimals/),
  pay('exponent notation', { '--amount': '1e3' }, /--amount: amount "1e3" is not a plain decimal/),
  pay('four hundred digits', { '--amount': HUGE_DIGITS }, /--amount: amount "9{40}…" is too large/),
  pay('words', { '--amount': 'abc' }, /--amount: .*not a plain decimal/),
  pay('a decimal comma', { '--amount': '12,34' }, /--amount: .*not a plain decimal/),
  pay('NaN', { '--amount': 'NaN' }, /--amount: .*not a plain decimal/),
  pay('an empty amount', { '--amount': '' }, /--amount is required/),
  pay('no amount at all', { '--amount': null }, /--amount is required/),
  // Currencies.
  pay('an unknown currency', { '--currency': 'XYZ' }, /--currency: unknown currency "XYZ"/),
  pay('an empty currency', { '--currency': '' }, /--currency is required/),
  // Accounts the CLI can judge alone.
  pay('an empty paying account', { '--from': '' }, /--from is required/),
  pay('an overlong paying account', { '--from': 'A'.repeat(65) }, /--from: fromAccountId .*at most 64/),
  pay(
    'a paying account with a newline',
    { '--from': 'A-1001\nEUR' },
    /--from: fromAccountId must not contain control/,
  ),
  // IBANs and account numbers.
  pay(
    'an IBAN with wrong check digits',
    { '--to-iban': 'DE00370400440532013000' },
    /--to-iban: beneficiary IBAN/,
  ),
  pay('a truncated IBAN', { '--to-iban': 'DE89' }, /--to-iban: beneficiary IBAN is not valid/),
  pay(
    'an IBAN with a letter among its digits',
    { '--to-iban': 'DE89 3704 0044 0532 0130 0X' },
    /--to-iban: /,
  ),
  pay(
    'letters as account number',
    { '--to-iban': null, '--to-account': 'abcd' },
    /--to-account: .*4-20 digits/,
  ),
  pay('neither IBAN nor account number', { '--to-iban': null }, /--to-iban or --to-account is required/),
  // Names.
  pay('an empty beneficiary name', { '--to-name': '' }, /--to-name is required/),
  pay('a blank beneficiary name', { '--to-name': '   ' }, /--to-name is required/),
  pay('a one-letter beneficiary name', { '--to-name': 'A' }, /--to-name: beneficiary name must be 2-140/),
  pay(
    'an overlong beneficiary name',
    { '--to-name': LONG_NAME },
    /--to-name: beneficiary name must be 2-140/,
  ),
  pay(
    'a bell in the name',
    { '--to-name': 'Ann\u0007Bell' },
    /--to-name: beneficiary name must not contain control/,
  ),
  pay('a header in the name', { '--to-name': 'Eve\r\nBcc: x@y.z' }, /--to-name: .*control characters/),
  pay(
    'a terminal escape in the name',
    { '--to-name': 'Mal\u001b[31mlory' },
    /--to-name: .*control characters/,
  ),
  pay('a bidi override in the name', { '--to-name': 'Ann \u202Eexe.txt' }, /--to-name: .*control characters/),
  pay(
    'a country name instead of a code',
    { '--to-country': 'Germany' },
    /--to-country: .*two-letter ISO code/,
  ),
  // Ids, flags, arguments.
  pay('a path as payment id', { '--id': '../../etc/passwd' }, /--id: paymentId must be 1-64 letters/),
  pay('an unknown flag', { '--amount-minor': '1234' }, /amount-minor/),
  pay('SQL in the payment id', { '--id': "x' OR '1'='1" }, /--id: paymentId/),
  {
    name: 'a stray positional argument',
    args: [...payArgs('hx-cli-stray'), 'now'],
    says: /unexpected argument "now"/,
    workflowId: paymentWorkflowId('hx-cli-stray'),
  },
  {
    name: 'a flag without its value',
    args: [...payArgs('hx-cli-novalue', { '--amount': null }), '--amount'],
    says: /--amount/,
    workflowId: paymentWorkflowId('hx-cli-novalue'),
  },
  // Registrations.
  reg('an empty name', { '--name': '' }, /--name is required/),
  reg('an overlong name', { '--name': LONG_NAME }, /--name: name must be 1-140/),
  reg('a control character in the name', { '--name': 'Zoë\u0008' }, /--name: .*control/),
  reg('an address without @', { '--email': 'not-an-email' }, /--email: email is not a valid address/),
  reg('an address without a domain', { '--email': 'a@b' }, /--email: email is not a valid address/),
  reg(
    'SQL in the address',
    { '--email': "x'; DROP TABLE customers;--@example.com" },
    /--email: email is not/,
  ),
  reg(
    'a phone without +',
    { '--phone': '4915112345678', '--channel': 'sms' },
    /--phone: phone must be in E\.164/,
  ),
  reg('letters as phone', { '--phone': 'call me' }, /--phone: phone must be in E\.164/),
  reg('SMS without a phone', { '--channel': 'sms' }, /--phone: SMS needs a phone number/),
  reg('an unknown channel', { '--channel': 'fax' }, /--channel must be "email" or "sms"/),
  reg('an unknown currency', { '--currency': 'XYZ' }, /--currency: unknown currency "XYZ"/),
  reg('a space in the registration id', { '--id': 'reg 1' }, /--id: registrationId must be/),
  reg('an unknown flag', { '--password': 'hunter2' }, /password/),
  // Listing.
  { name: 'a limit in exponent notation', args: ['list', '--limit', '1e3'], says: /--limit must be 1-1000/ },
  {
    name: 'a query smuggled into the status filter',
    args: ['list', '--status', "settled' OR WorkflowType != '"],
    says: /--status must be one of/,
  },
];

/** Inputs the CLI cannot judge (only the ledger knows the account): the workflow refuses them, moving nothing. */
const LEDGER_REFUSALS: { name: string; changes: Flags; says: RegExp }[] = [
  {
    name: 'an unknown paying account',
    changes: { '--from': 'A-9999-EUR' },
    says: /fromAccountId: .*does not exist/,
  },
  {
    name: 'a closed paying account',
    changes: { '--from': CLOSED },
    says: /fromAccountId: account .* is closed/,
  },
  {
    name: 'the clearing account paying itself',
    changes: { '--from': Ledger.systemAccountId('clearing', 'EUR') },
    says: /fromAccountId: .*clearing account, not a customer account/,
  },
  {
    name: 'the funding account paying out',
    changes: { '--from': Ledger.systemAccountId('funding', 'EUR') },
    says: /not a customer account/,
  },
  {
    name: 'a currency not the account’s',
    changes: { '--currency': 'USD' },
    says: /currency: .* holds EUR, not USD/,
  },
  {
    name: 'SQL in the paying account',
    changes: { '--from': "A-1001-EUR' OR '1'='1" },
    says: /fromAccountId: account A-1001-EUR' OR '1'='1 does not exist/,
  },
];

// --- The workflows' own inputs, sent straight through a client with none of the CLI's checks.

const validPayment = (): PaymentRequest => ({
  paymentId: 'hx-wf-payment',
  fromAccountId: PAYER,
  amountMinor: 12_34,
  currency: 'EUR',
  beneficiary: { name: AML_DEMO_NAMES.clear, country: 'DE', iban: IBAN },
});

const validRegistration = (): RegistrationRequest => ({
  registrationId: 'hx-wf-registration',
  name: 'Hostile Input Tester',
  email: 'hx-wf@example.com',
  channel: 'email',
  currency: 'EUR',
});

type Json = Record<string, unknown>;

/** A request with fields replaced (undefined removes one), nested through "beneficiary.name" style paths. */
function changed(base: object, changes: Json): Json {
  const copy = structuredClone(base) as Json;
  for (const [path, value] of Object.entries(changes)) {
    const [head, tail] = path.split('.', 2) as [string, string | undefined];
    const target = tail === undefined ? copy : (copy[head] as Json);
    const key = tail ?? head;
    // Defined, not assigned: assigning "__proto__" would set the prototype instead of adding a field.
    if (value === undefined) delete target[key];
    else Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  }
  return copy;
}

interface WorkflowRefusal {
  name: string;
  workflow: 'paymentWorkflow' | 'registrationWorkflow';
  input: unknown;
  says: RegExp;
}

const paymentRow = (name: string, changes: Json, says: RegExp): WorkflowRefusal => ({
  name,
  workflow: 'paymentWorkflow',
  input: changed(validPayment(), changes),
  says,
});
const registrationRow = (name: string, changes: Json, says: RegExp): WorkflowRefusal => ({
  name,
  workflow: 'registrationWorkflow',
  input: changed(validRegistration(), changes),
  says,
});
/** An object whose conversion to text throws: the kind of value that used to wedge a workflow task. */
const unprintable = { toString: 1, valueOf: 1 };

const WORKFLOW_REFUSALS: WorkflowRefusal[] = [
  paymentRow('a negative amount', { amountMinor: -100 }, /amountMinor must be a positive whole number/),
  paymentRow('a zero amount', { amountMinor: 0 }, /amountMinor must be a positive/),
  paymentRow('a fraction of a minor unit', { amountMinor: 12.5 }, /amountMinor .*\(got 12\.5\)/),
  paymentRow(
    'an amount past the safe range',
    { amountMinor: 2 ** 53 },
    /amountMinor .*at most 9007199254740991/,
  ),
  paymentRow('an amount in exponent range', { amountMinor: 1e21 }, /amountMinor/),
  paymentRow('an amount as text', { amountMinor: '1234' }, /amountMinor .*\(got "1234"\)/),
  paymentRow('no amount', { amountMinor: undefined }, /amountMinor/),
  paymentRow('an amount as an object', { amountMinor: { value: 1234 } }, /amountMinor .*\(got an object\)/),
  paymentRow('an unknown currency', { currency: 'XYZ' }, /currency "XYZ" is not supported/),
  paymentRow('a lower-case currency', { currency: 'eur' }, /currency "eur" is not supported/),
  paymentRow('a currency in a list', { currency: ['EUR'] }, /currency must be a string/),
  paymentRow('an unprintable currency', { currency: unprintable }, /currency must be a string/),
  paymentRow(
    'a currency not the account’s',
    { currency: 'USD' },
    /currency: account A-1001-EUR holds EUR, not USD/,
  ),
  paymentRow(
    'an unknown account',
    { fromAccountId: 'A-9999-EUR' },
    /fromAccountId: account A-9999-EUR does not exist/,
  ),
  paymentRow(
    'a closed account',
    { fromAccountId: CLOSED },
    /fromAccountId: account A-HX-CLOSED-EUR is closed/,
  ),
  paymentRow('the clearing account', { fromAccountId: 'clearing:EUR' }, /not a customer account/),
  paymentRow('an account as a number', { fromAccountId: 1001 }, /fromAccountId must be a string/),
  paymentRow('no account', { fromAccountId: undefined }, /fromAccountId is required/),
  paymentRow(
    'an IBAN with wrong check digits',
    { 'beneficiary.iban': 'DE00370400440532013000' },
    /IBAN is not valid/,
  ),
  paymentRow(
    'a lower-case IBAN',
    { 'beneficiary.iban': IBAN.toLowerCase() },
    /beneficiary IBAN is not valid/,
  ),
  paymentRow(
    'an IBAN with spaces',
    { 'beneficiary.iban': 'DE89 3704 0044 0532 0130 00' },
    /IBAN is not valid/,
  ),
  paymentRow('an IBAN in a list', { 'beneficiary.iban': [IBAN] }, /beneficiary IBAN must be a string/),
  paymentRow(
    'an account number of letters',
    { 'beneficiary.iban': undefined, 'beneficiary.accountNumber': 'abcd' },
    /4-20 digits/,
  ),
  paymentRow(
    'neither IBAN nor account number',
    { 'beneficiary.iban': undefined },
    /needs an IBAN or an account/,
  ),
  paymentRow('an empty name', { 'beneficiary.name': '' }, /beneficiary name must be 2-140 characters/),
  paymentRow('a blank name', { 'beneficiary.name': '   ' }, /beneficiary name must be 2-140/),
  paymentRow('an overlong name', { 'beneficiary.name': LONG_NAME }, /beneficiary name must be 2-140/),
  paymentRow(
    'a NUL in the name',
    { 'beneficiary.name': 'Ann\u0000Bell' },
    /beneficiary name must not contain control/,
  ),
  paymentRow(
    'a DEL in the name',
    { 'beneficiary.name': 'Ann\u007fBell' },
    /beneficiary name must not contain control/,
  ),
  paymentRow(
    'half a surrogate pair',
    { 'beneficiary.name': 'Ann \ud83d Bell' },
    /beneficiary name must not contain/,
  ),
  paymentRow('a name as a number', { 'beneficiary.name': 12345 }, /beneficiary name must be 2-140/),
  paymentRow('a name as an object', { 'beneficiary.name': { first: 'Ann' } }, /beneficiary name/),
  paymentRow('no name', { 'beneficiary.name': undefined }, /beneficiary name must be 2-140/),
  paymentRow(
    'a country name',
    { 'beneficiary.country': 'Germany' },
    /beneficiary country must be a two-letter/,
  ),
  paymentRow('no beneficiary', { beneficiary: undefined }, /beneficiary is required/),
  paymentRow('a beneficiary as text', { beneficiary: 'Ann Bell, DE' }, /beneficiary is required/),
  paymentRow(
    'a beneficiary as a list',
    { beneficiary: [AML_DEMO_NAMES.clear] },
    /beneficiary must be an object/,
  ),
  paymentRow('no payment id', { paymentId: undefined }, /paymentId must be 1-64/),
  paymentRow('a path as payment id', { paymentId: '../../etc/passwd' }, /paymentId must be 1-64/),
  paymentRow('a payment id as a number', { paymentId: 12345 }, /paymentId must be a string/),
  paymentRow('an unprintable payment id', { paymentId: unprintable }, /paymentId must be a string/),
  paymentRow('an extra field', { amount: '12.34' }, /unknown field "amount"/),
  paymentRow(
    'an extra beneficiary field',
    { 'beneficiary.bic': 'DEUTDEFF' },
    /unknown field "beneficiary\.bic"/,
  ),
  paymentRow(
    'a prototype key',
    JSON.parse('{"__proto__": {"admin": true}}') as Json,
    /unknown field "__proto__"/,
  ),
  paymentRow(
    'a negative wait',
    { timings: { amlReviewTimeoutMs: -1 } },
    /timings\.amlReviewTimeoutMs must be/,
  ),
  paymentRow('a wait as text', { timings: { bankStatusTimeoutMs: 'soon' } }, /timings\.bankStatusTimeoutMs/),
  paymentRow('timings as text', { timings: 'fast' }, /timings must be an object/),
  paymentRow('an unknown timing', { timings: { sleepMs: 5 } }, /unknown field "timings\.sleepMs"/),
  {
    name: 'null as the request',
    workflow: 'paymentWorkflow',
    input: null,
    says: /payment request must be an object/,
  },
  {
    name: 'text as the request',
    workflow: 'paymentWorkflow',
    input: 'pay Ann 12.34',
    says: /must be an object/,
  },
  {
    name: 'a list as the request',
    workflow: 'paymentWorkflow',
    input: [validPayment()],
    says: /must be an object/,
  },
  {
    name: 'an empty object',
    workflow: 'paymentWorkflow',
    input: {},
    says: /paymentId .*fromAccountId .*amountMinor/,
  },
  registrationRow('an empty name', { name: '' }, /name must be 1-140 characters/),
  registrationRow('an overlong name', { name: LONG_NAME }, /name must be 1-140/),
  registrationRow('a bell in the name', { name: 'Ann\u0007' }, /name must not contain control characters/),
  registrationRow('a line break in the name', { name: 'Ann\nBcc: x@y.z' }, /name must not contain control/),
  registrationRow('a name as a number', { name: 42 }, /name must be 1-140/),
  registrationRow('no email', { email: undefined }, /email is not a valid address/),
  registrationRow('an address without @', { email: 'nobody.example.com' }, /email is not a valid address/),
  registrationRow(
    'a NUL in the address',
    { email: 'a\u0000b@example.com' },
    /email must not contain control/,
  ),
  registrationRow(
    'SQL in the address',
    { email: "x'; DROP TABLE customers;--@example.com" },
    /email is not a valid/,
  ),
  registrationRow('a phone without +', { phone: '4915112345678' }, /phone must be in E\.164/),
  registrationRow('a phone as a number', { phone: 4915112345678 }, /phone must be in E\.164/),
  registrationRow('SMS without a phone', { channel: 'sms' }, /SMS needs a phone number/),
  registrationRow('an unknown channel', { channel: 'fax' }, /channel must be "email" or "sms"/),
  registrationRow('an unprintable channel', { channel: unprintable }, /channel must be "email" or "sms"/),
  registrationRow('an unknown currency', { currency: 'XYZ' }, /currency "XYZ" is not supported/),
  registrationRow('a registration id as a number', { registrationId: 7 }, /registrationId must be a string/),
  registrationRow('no registration id', { registrationId: undefined }, /registrationId must be 1-64/),
  registrationRow('an extra field', { password: 'hunter2' }, /unknown field "password"/),
  {
    name: 'null as the registration',
    workflow: 'registrationWorkflow',
    input: null,
    says: /must be an object/,
  },
  {
    name: 'a number as the registration',
    workflow: 'registrationWorkflow',
    input: 42,
    says: /must be an object/,
  },
];

type WorkflowOutcome =
  | { kind: 'completed'; state: PaymentState | RegistrationState }
  | { kind: 'failed'; failure: ApplicationFailure };

/**
 * How a run ended, or a failure saying the run is wedged: a workflow task that fails is retried forever by
 * Temporal, so its result would never come.
 */
async function outcomeOf(handle: WorkflowHandle): Promise<WorkflowOutcome> {
  let settled = false;
  const result = handle.result().then(
    (state: PaymentState | RegistrationState): WorkflowOutcome => ({ kind: 'completed', state }),
    (err: unknown): WorkflowOutcome => {
      if (err instanceof WorkflowFailedError && err.cause instanceof ApplicationFailure) {
        return { kind: 'failed', failure: err.cause };
      }
      throw err;
    },
  );
  const wedged = (async (): Promise<never> => {
    for (let i = 0; i < 120 && !settled; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      const history = await handle.fetchHistory();
      const failed = history.events?.find((event) => event.workflowTaskFailedEventAttributes);
      if (failed)
        throw new Error(`the run is wedged: a workflow task failed (event ${String(failed.eventId)})`);
    }
    throw new Error('no outcome within a minute');
  })();
  try {
    return await Promise.race([result, wedged]);
  } finally {
    settled = true;
    wedged.catch(() => undefined);
  }
}

// --- HTTP, spoken raw: exact headers, exact bytes, and an answer even when the server cuts the upload short.

interface HttpAnswer {
  status: number;
  body: string;
}

function call(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<HttpAnswer> {
  return new Promise<HttpAnswer>((resolve, reject) => {
    const req = httpRequest(url, { method, headers });
    let answered = false;
    req.on('response', (res) => {
      answered = true;
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    req.end(body);
  });
}

/** The `{ error: { code, message } }` both servers answer with, as one line to match against. */
function errorText(answer: HttpAnswer): string {
  const parsed = JSON.parse(answer.body) as { error?: { code?: unknown; message?: unknown } };
  assert.ok(parsed.error, `an error body: ${answer.body}`);
  return `${String(parsed.error.code)}: ${String(parsed.error.message)}`;
}

interface HttpRefusal {
  name: string;
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  status: number;
  says: RegExp;
}

const WEBHOOK_PAYMENT = 'hx-webhook';
let webhookReference = '';

function webhookEvent(changes: Json = {}): string {
  return JSON.stringify(
    changed(
      {
        eventId: 'ev-hx-1',
        type: 'payment.status',
        paymentId: WEBHOOK_PAYMENT,
        reference: webhookReference,
        status: 'failed',
        occurredAt: new Date().toISOString(),
      },
      changes,
    ),
  );
}

const nowSeconds = () => Math.floor(Date.now() / 1000);
const signedHeaders = (body: string | Buffer, contentType = 'application/json'): Record<string, string> => ({
  'content-type': contentType,
  [SIGNATURE_HEADER]: signWebhook(body, SECRET, nowSeconds()),
});

/** A signed POST of `body`: what only the bank (or someone with its secret) can send. */
function signed(name: string, body: string, status: number, says: RegExp): HttpRefusal {
  return { name, body, headers: signedHeaders(body), status, says };
}

/** Built when the table runs, once the payment it aims at has its bank reference. */
function webhookRefusals(): HttpRefusal[] {
  const event = webhookEvent();
  const huge = webhookEvent({ eventId: 'ev-huge' }) + ' '.repeat(MAX_WEBHOOK_BODY_BYTES);
  const deep = '['.repeat(20_000) + ']'.repeat(20_000);
  return [
    { name: 'GET instead of POST', method: 'GET', status: 405, says: /method_not_allowed: use POST/ },
    {
      name: 'another path',
      path: '/webhooks/other',
      body: event,
      headers: signedHeaders(event),
      status: 404,
      says: /not_found/,
    },
    {
      name: 'a text body',
      body: event,
      headers: signedHeaders(event, 'text/plain'),
      status: 415,
      says: /content-type/,
    },
    {
      name: 'a form body',
      body: event,
      headers: signedHeaders(event, 'application/x-www-form-urlencoded'),
      status: 415,
      says: /content-type must be application\/json/,
    },
    {
      name: 'no content type',
      body: event,
      headers: { [SIGNATURE_HEADER]: signWebhook(event, SECRET, nowSeconds()) },
      status: 415,
      says: /content-type/,
    },
    {
      name: 'a body over 64 KiB',
      body: huge,
      headers: signedHeaders(huge),
      status: 413,
      says: /body_too_large: the body is over 64 KiB/,
    },
    {
      name: 'no signature',
      body: event,
      headers: { 'content-type': 'application/json' },
      status: 401,
      says: /invalid_signature: signature missing/,
    },
    {
      name: 'a garbled signature',
      body: event,
      headers: { 'content-type': 'application/json', [SIGNATURE_HEADER]: 't=soon,v1=abc' },
      status: 401,
      says: /signature malformed/,
    },
    {
      name: 'a forged signature',
      body: event,
      headers: {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signWebhook(event, 'not-the-secret', nowSeconds()),
      },
      status: 401,
      says: /signature mismatch/,
    },
    {
      name: 'an expired signature',
      body: event,
      headers: {
        'content-type': 'application/json',
        [SIGNATURE_HEADER]: signWebhook(event, SECRET, nowSeconds() - 3600),
      },
      status: 401,
      says: /signature expired/,
    },
    signed('signed text that is not JSON', '{"eventId": ', 400, /invalid_json/),
    signed('a signed empty body', '', 400, /invalid_json/),
    signed('a signed list', '[]', 400, /invalid_event: .*body: .*expected object/),
    signed('a signed null', 'null', 400, /invalid_event: .*body/),
    signed('deeply nested lists', deep, 400, /invalid_event: .*body/),
    signed('no payment id', webhookEvent({ paymentId: undefined }), 400, /invalid_event: .*paymentId: /),
    signed('no status', webhookEvent({ status: undefined }), 400, /invalid_event: .*status: /),
    signed('no event id', webhookEvent({ eventId: undefined }), 400, /invalid_event: .*eventId/),
    signed('an empty event id', webhookEvent({ eventId: '' }), 400, /invalid_event: .*eventId: /),
    signed(
      'an extra field',
      webhookEvent({ amountMinor: 100 }),
      400,
      /invalid_event: .*Unrecognized key: "amountMinor"/,
    ),
    signed(
      'a prototype key',
      webhookEvent().replace('{', '{"__proto__":{"admin":true},'),
      400,
      /Unrecognized key: "__proto__"/,
    ),
    signed('an unknown status', webhookEvent({ status: 'paid' }), 400, /invalid_event: .*status: /),
    signed('another event type', webhookEvent({ type: 'payment.created' }), 400, /invalid_event: .*type: /),
    signed(
      'a date in words',
      webhookEvent({ occurredAt: 'yesterday' }),
      400,
      /invalid_event: .*occurredAt: /,
    ),
    signed('a payment id as a number', webhookEvent({ paymentId: 42 }), 400, /invalid_event: .*paymentId: /),
    signed(
      'an overlong payment id',
      webhookEvent({ paymentId: 'p'.repeat(65) }),
      400,
      /invalid_event: .*paymentId: /,
    ),
    signed('SQL as payment id', webhookEvent({ paymentId: "x' OR '1'='1" }), 404, /unknown_payment/),
    signed(
      'a payment nobody knows',
      webhookEvent({ paymentId: 'hx-nobody' }),
      404,
      /unknown_payment: no payment has this id/,
    ),
  ];
}

function codecRefusals(encrypted: JSONPayload, foreign: JSONPayload): HttpRefusal[] {
  const json = { 'content-type': 'application/json', origin: UI_ORIGIN, authorization: `Bearer ${TOKEN}` };
  const body = (value: unknown) => JSON.stringify(value);
  const withJson = (name: string, value: string, status: number, says: RegExp): HttpRefusal => ({
    name,
    body: value,
    headers: json,
    status,
    says,
  });
  const tampered = {
    ...encrypted,
    data: Buffer.from(
      Buffer.from(encrypted.data ?? '', 'base64').map((b, i) => (i === 20 ? b ^ 1 : b)),
    ).toString('base64'),
  };
  return [
    { name: 'GET instead of POST', method: 'GET', headers: json, status: 405, says: /method_not_allowed/ },
    {
      name: 'an unknown operation',
      path: '/transcode',
      headers: json,
      body: '{}',
      status: 404,
      says: /not_found/,
    },
    {
      name: 'no bearer token',
      headers: { 'content-type': 'application/json', origin: UI_ORIGIN },
      body: '{}',
      status: 401,
      says: /unauthorized: a valid bearer token/,
    },
    {
      name: 'a wrong bearer token',
      headers: { ...json, authorization: 'Bearer guess' },
      body: '{}',
      status: 401,
      says: /unauthorized/,
    },
    {
      name: 'an origin not allowed',
      headers: { ...json, origin: 'http://evil.example' },
      body: '{}',
      status: 403,
      says: /origin_not_allowed/,
    },
    {
      name: 'a text body',
      headers: { ...json, 'content-type': 'text/plain' },
      body: '{}',
      status: 415,
      says: /content-type must be application\/json/,
    },
    {
      name: 'no content type',
      headers: { origin: UI_ORIGIN, authorization: `Bearer ${TOKEN}` },
      body: '{}',
      status: 415,
      says: /content-type/,
    },
    withJson(
      'a body over 1 MiB',
      body({ payloads: [{ data: 'A'.repeat(MAX_BODY_BYTES) }] }),
      413,
      /body_too_large/,
    ),
    withJson('text that is not JSON', '{"payloads": [', 400, /invalid_json/),
    withJson('an empty body', '', 400, /invalid_json/),
    withJson('a list', '[]', 400, /invalid_body: body: .*expected object/),
    withJson('deeply nested lists', '['.repeat(20_000) + ']'.repeat(20_000), 400, /invalid_body: body/),
    withJson('payloads as text', body({ payloads: 'all of them' }), 400, /invalid_body: payloads: /),
    withJson(
      'data that is not base64',
      body({ payloads: [{ data: 'not base64!' }] }),
      400,
      /payloads\.0\.data: data must be base64/,
    ),
    withJson(
      'metadata that is not base64',
      body({ payloads: [{ metadata: { encoding: '%%%' } }] }),
      400,
      /payloads\.0\.metadata\.encoding: metadata values must be base64/,
    ),
    withJson(
      'an extra field',
      body({ payloads: [], keys: 'please' }),
      400,
      /invalid_body: body: Unrecognized key: "keys"/,
    ),
    withJson(
      'an extra payload field',
      body({ payloads: [{ ...encrypted, plain: 'x' }] }),
      400,
      /payloads\.0: Unrecognized key: "plain"/,
    ),
    withJson(
      'a prototype key',
      '{"__proto__": {"admin": true}, "payloads": []}',
      400,
      /Unrecognized key: "__proto__"/,
    ),
    withJson(
      'an encrypted payload without its data',
      body({ payloads: [{ metadata: encrypted.metadata }] }),
      422,
      /malformed: .*too short/,
    ),
    withJson('a tampered ciphertext', body({ payloads: [tampered] }), 422, /integrity_check_failed/),
    withJson(
      'a key not in the ring',
      body({ payloads: [foreign] }),
      422,
      /unknown_key: .*not in the key ring/,
    ),
  ];
}

async function runHttpRefusal(baseUrl: string, defaultPath: string, row: HttpRefusal): Promise<HttpAnswer> {
  const answer = await call(
    new URL(row.path ?? defaultPath, baseUrl).toString(),
    row.method ?? 'POST',
    row.headers ?? {},
    row.body,
  );
  assert.equal(answer.status, row.status, `status; body: ${answer.body.slice(0, 300)}`);
  assert.match(errorText(answer), row.says);
  return answer;
}

// --- The stack.

before(async () => {
  stack = await startLocalStack({
    databaseUrl: TEST_DATABASE_URL,
    databaseSchema: schema,
    webhookSecret: SECRET,
    bankDelayMs: 200,
  });
  await stack.ledger.openAccount({ id: CLOSED, kind: 'customer', customerId: 'C-1001', currency: 'EUR' });
  await stack.ledger.transfer({
    idempotencyKey: 'hx:fund-closed',
    fromAccountId: Ledger.systemAccountId('funding', 'EUR'),
    toAccountId: CLOSED,
    amountMinor: 50_00,
    currency: 'EUR',
  });
  await stack.ledger.closeAccount(CLOSED);
  codec = await startCodecServer({ ring: stack.codecKeys, allowedOrigins: [UI_ORIGIN], authToken: TOKEN });
  env = {
    TEMPORAL_ADDRESS: stack.address,
    TEMPORAL_UI_URL: 'http://ui.test',
    DATABASE_URL: TEST_DATABASE_URL,
    DATABASE_SCHEMA: schema,
  };
});

after(async () => {
  await codec?.close();
  await stack?.stop();
  await dropSchema(schema);
});

describe('the CLI', () => {
  let before_: Books;
  before(async () => {
    before_ = await books();
  });

  describe(
    `refuses with exit 2, names the field and starts nothing (${CLI_REFUSALS.length} rows)`,
    { concurrency: CLI_CONCURRENCY },
    () => {
      for (const row of CLI_REFUSALS) {
        test(row.name, async () => {
          const run = await cli(...row.args);
          assert.equal(run.code, 2, `exit code; stderr: ${run.stderr}`);
          assert.match(run.stderr, row.says);
          assert.ok(
            run.stderr.length < 1000,
            `a message of readable length, not ${run.stderr.length} characters`,
          );
          if (row.workflowId !== undefined) await assertNoRun(row.workflowId);
        });
      }
    },
  );

  describe(
    `lets the workflow refuse what only the ledger knows (${LEDGER_REFUSALS.length} rows)`,
    { concurrency: CLI_CONCURRENCY },
    () => {
      for (const [i, row] of LEDGER_REFUSALS.entries()) {
        test(row.name, async () => {
          const run: CliRun = await cli(...payArgs(`hx-ledger-${i}`, row.changes), '--wait', '--json');
          assert.equal(run.code, 0, run.stderr);
          const state = JSON.parse(run.stdout) as PaymentState;
          assert.equal(state.status, PaymentStatus.Rejected);
          assert.equal(state.reason, 'invalid');
          assert.match(state.reasonDetail ?? '', row.says);
          assert.equal(state.ledger.debitTransferId, undefined, 'nothing was debited');
        });
      }
    },
  );

  test('moved no money and created no customer across both tables', async () => {
    assert.deepEqual(await books(), before_);
    await assertBooksBalance();
  });
});

describe('the workflows’ own validation', () => {
  let before_: Books;
  before(async () => {
    before_ = await books();
  });

  describe(
    `rejects, naming the field, whatever a client sends (${WORKFLOW_REFUSALS.length} rows)`,
    { concurrency: 8 },
    () => {
      for (const [i, row] of WORKFLOW_REFUSALS.entries()) {
        test(`${row.workflow === 'paymentWorkflow' ? 'payment' : 'registration'}: ${row.name}`, async () => {
          const workflowId =
            row.workflow === 'paymentWorkflow'
              ? paymentWorkflowId(`hx-wf-${i}`)
              : registrationWorkflowId(`hx-wf-${i}`);
          const handle = await stack.client.workflow.start(row.workflow, {
            taskQueue: stack.taskQueue,
            workflowId,
            args: [row.input],
          });
          const outcome = await outcomeOf(handle);
          if (outcome.kind === 'failed') {
            assert.equal(outcome.failure.nonRetryable, true);
            assert.ok(
              outcome.failure.type === PaymentFailureType.InvalidRequest ||
                outcome.failure.type === RegistrationFailureType.InvalidRequest,
              `failure type ${String(outcome.failure.type)}`,
            );
            assert.match(outcome.failure.message, row.says);
            return;
          }
          const state = outcome.state;
          assert.equal(state.status, 'rejected', `status; detail: ${state.reasonDetail ?? ''}`);
          assert.equal(state.reason, 'invalid');
          assert.match(state.reasonDetail ?? '', row.says);
        });
      }
    },
  );

  test('moved no money and created no customer across the table', async () => {
    assert.deepEqual(await books(), before_);
    await assertBooksBalance();
  });
});

describe('the bank webhook endpoint', () => {
  let before_: Books;
  before(async () => {
    stack.bank.setScenario(WEBHOOK_PAYMENT, { webhook: 'drop', delayMs: 0 });
    await startPayment(stack.client, { ...validPayment(), paymentId: WEBHOOK_PAYMENT }, stack.taskQueue);
    const handle = stack.client.workflow.getHandle(paymentWorkflowId(WEBHOOK_PAYMENT));
    for (let i = 0; i < 300 && webhookReference === ''; i++) {
      const state = await handle.query(paymentStatusQuery).catch(() => undefined);
      if (state?.status === PaymentStatus.Submitted && state.bank?.reference)
        webhookReference = state.bank.reference;
      else await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(webhookReference, 'the payment the webhooks aim at reached the bank');
    before_ = await books();
  });

  test('refuses every hostile request with a 4xx naming what is wrong, and delivers none of them', async (t) => {
    const rows = webhookRefusals();
    for (const row of rows) {
      await t.test(row.name, async () => {
        await runHttpRefusal(stack.worker.webhookUrl, '/webhooks/bank', row);
      });
    }
    const state = await stack.client.workflow
      .getHandle(paymentWorkflowId(WEBHOOK_PAYMENT))
      .query(paymentStatusQuery);
    assert.equal(
      state.status,
      PaymentStatus.Submitted,
      'the payment the refused webhooks named did not move',
    );
    assert.deepEqual(await books(), before_);
  });

  test('takes a signed status for the wrong bank reference without moving the payment', async () => {
    const body = webhookEvent({
      eventId: 'ev-hx-wrong-ref',
      reference: 'BNK-NOT-THIS-ONE',
      status: 'settled',
    });
    const answer = await call(stack.worker.webhookUrl, 'POST', signedHeaders(body), body);
    assert.equal(answer.status, 200);
    const handle = stack.client.workflow.getHandle(paymentWorkflowId(WEBHOOK_PAYMENT));
    assert.equal((await handle.query(paymentStatusQuery)).status, PaymentStatus.Submitted);
    assert.deepEqual(await books(), before_);
  });

  test('keeps serving: the genuine signed status is accepted and settles the payment', async () => {
    const body = webhookEvent({ eventId: 'ev-hx-genuine', status: 'settled' });
    const answer = await call(
      stack.worker.webhookUrl,
      'POST',
      signedHeaders(body, 'application/json; charset=utf-8'),
      body,
    );
    assert.equal(answer.status, 200, answer.body);
    const state = (await stack.client.workflow
      .getHandle(paymentWorkflowId(WEBHOOK_PAYMENT))
      .result()) as PaymentState;
    assert.equal(state.status, PaymentStatus.Settled);
    assert.equal(state.bank?.source, 'webhook');
  });
});

describe('the codec server', () => {
  const plain = defaultPayloadConverter.toPayload({ name: 'Zoë Privatperson' });
  let encrypted: JSONPayload;
  let foreign: JSONPayload;
  before(async () => {
    const [mine] = await new EncryptionCodec(stack.codecKeys).encode([plain]);
    const [theirs] = await new EncryptionCodec(parseKeyRing(`elsewhere-1:${generateKey()}`)).encode([plain]);
    assert.ok(mine && theirs);
    encrypted = payloadToJSON(mine);
    foreign = payloadToJSON(theirs);
  });

  test('refuses every hostile request with a 4xx naming what is wrong', async (t) => {
    for (const row of codecRefusals(encrypted, foreign)) {
      await t.test(row.name, async () => {
        await runHttpRefusal(codec.url, '/decode', row);
      });
    }
  });

  test('keeps serving: decodes a genuine payload after the table', async () => {
    const answer = await call(
      `${codec.url}/decode`,
      'POST',
      { 'content-type': 'application/json', origin: UI_ORIGIN, authorization: `Bearer ${TOKEN}` },
      JSON.stringify({ payloads: [encrypted] }),
    );
    assert.equal(answer.status, 200, answer.body);
    const [decoded] = (JSON.parse(answer.body) as { payloads: JSONPayload[] }).payloads;
    assert.ok(decoded);
    assert.deepEqual(defaultPayloadConverter.fromPayload(JSONToPayload(decoded)), {
      name: 'Zoë Privatperson',
    });
  });
});

describe('after all of it', () => {
  test('the worker still pays: a valid payment through the CLI settles, its SQL-looking name kept as text', async () => {
    const name = "Robert'); DROP TABLE transfers;--";
    const run = await cli(...payArgs('hx-after-pay', { '--to-name': name }), '--wait', '--json');
    assert.equal(run.code, 0, run.stderr);
    const state = JSON.parse(run.stdout) as PaymentState;
    assert.equal(state.status, PaymentStatus.Settled, state.reasonDetail);
    const debit = await stack.ledger.getTransferByKey('hx-after-pay:debit');
    assert.equal(debit?.amountMinor, 12_34);
    await assertBooksBalance();
  });

  test('the worker still registers: a name full of SQL is stored exactly as typed', async () => {
    const name = "Bobby'); DROP TABLE customers;-- Tables";
    const run = await cli(...registerArgs('hx-after-reg', { '--name': name }), '--wait', '--json');
    assert.equal(run.code, 0, run.stderr);
    const state = JSON.parse(run.stdout) as RegistrationState;
    assert.equal(state.status, 'completed', state.reasonDetail);
    const customer = await stack.customers.byRegistration('hx-after-reg');
    assert.equal(customer?.name, name);
    assert.ok((await stack.customers.list()).length > 3, 'the customers table is still there');
  });

  test('the webhook receiver still answers its health check', async () => {
    const answer = await call(new URL('/healthz', stack.worker.webhookUrl).toString(), 'GET', {});
    assert.equal(answer.status, 200);
  });
});
