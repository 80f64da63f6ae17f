/**
 * The checks of a payment request: the rules every revision of the workflow applied, and the shape checks added
 * later behind a patch. Deterministic and free of I/O: the workflow runs them, and the client runs them first so a
 * bad request is refused before anything starts.
 */
import { isCurrency } from '../domain/money';
import {
  controlCharacterProblems,
  isRecord,
  quoted,
  requestProblems,
  rulesThatNeverThrow,
  stringTypeProblems,
  unknownFieldProblems,
} from '../domain/input-checks';
import type { JsonRecord, RequestCheck } from '../domain/input-checks';
import type { Beneficiary } from '../domain/payment-terms';
import { DEFAULT_PAYMENT_TIMINGS } from './payment-contract';
import type { PaymentRequest, PaymentTimings } from './payment-contract';

const PAYMENT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
const COUNTRY = /^[A-Z]{2}$/;
const IBAN = /^[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}$/;
const ACCOUNT_NUMBER = /^[0-9]{4,20}$/;

/** True when the IBAN's check digits are right (ISO 13616, mod 97). */
export function ibanChecksumValid(iban: string): boolean {
  const rearranged = iban.slice(4) + iban.slice(0, 4);
  let remainder = 0;
  for (const ch of rearranged) {
    const value = ch >= 'A' && ch <= 'Z' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const digit of value) remainder = (remainder * 10 + Number(digit)) % 97;
  }
  return remainder === 1;
}

/** Fields a payment request may carry; anything else is refused by name. */
const PAYMENT_REQUEST_FIELDS = [
  'paymentId',
  'fromAccountId',
  'amountMinor',
  'currency',
  'beneficiary',
  'timings',
] as const satisfies readonly (keyof PaymentRequest)[];
const BENEFICIARY_FIELDS = [
  'name',
  'country',
  'iban',
  'accountNumber',
] as const satisfies readonly (keyof Beneficiary)[];
const TIMING_FIELDS = Object.keys(DEFAULT_PAYMENT_TIMINGS) as (keyof PaymentTimings)[];
/** The longest wait a payment may be given: a year. */
const MAX_WAIT_MS = 366 * 24 * 60 * 60 * 1000;
const MAX_POLL_ATTEMPTS = 100;

/**
 * Every problem with a payment request, in words, each naming its field; empty when it is valid. What a client
 * checks before starting a payment: {@link paymentRuleProblems} and {@link paymentShapeProblems} together.
 */
export function paymentRequestProblems(request: unknown): string[] {
  return requestProblems(request, NOT_A_PAYMENT_REQUEST, paymentRuleProblems, paymentShapeProblems);
}

/** Why a payment input that is not even an object is refused. */
export const NOT_A_PAYMENT_REQUEST = 'the payment request must be an object';

/**
 * The business rules every revision of the payment workflow has applied: a well-formed id, an account, a positive
 * whole amount in a known currency, and a beneficiary with a name, a country and an IBAN or account number.
 * Deterministic; it never throws, whatever it is given.
 */
export const paymentRuleProblems: RequestCheck = rulesThatNeverThrow(
  (input) => firstRevisionRuleProblems(input),
  (input) => paymentShapeProblems(input),
  'the payment request holds a value that cannot be read',
);

function firstRevisionRuleProblems(request: Partial<PaymentRequest>): string[] {
  // The first revision's expressions, kept as they were (coercions included) so that every input it decided
  // decides the same way on replay.
  const problems: string[] = [];
  if (!PAYMENT_ID.test(request.paymentId ?? '')) {
    problems.push('paymentId must be 1-64 letters, digits, "-", "_" or "." and start with a letter or digit');
  }
  if (!request.fromAccountId || request.fromAccountId.length > 64) {
    problems.push('fromAccountId is required, at most 64 characters');
  }
  if (!Number.isSafeInteger(request.amountMinor) || (request.amountMinor ?? 0) <= 0) {
    problems.push(
      `amountMinor must be a positive whole number of minor units, at most ${Number.MAX_SAFE_INTEGER}` +
        ` (got ${quoted(request.amountMinor)})`,
    );
  }
  if (!isCurrency(request.currency ?? ''))
    problems.push(`currency ${quoted(request.currency)} is not supported`);
  const b = request.beneficiary;
  if (!b || typeof b !== 'object') {
    problems.push('beneficiary is required');
    return problems;
  }
  // `typeof` is new: a name that was not text used to throw here.
  if (!b.name || typeof b.name !== 'string' || b.name.trim().length < 2 || b.name.length > 140) {
    problems.push('beneficiary name must be 2-140 characters');
  }
  if (!COUNTRY.test(b.country ?? '')) problems.push('beneficiary country must be a two-letter ISO code');
  if (b.iban === undefined && b.accountNumber === undefined) {
    problems.push('beneficiary needs an IBAN or an account number');
  }
  if (b.iban !== undefined && (!IBAN.test(b.iban) || !ibanChecksumValid(b.iban))) {
    problems.push('beneficiary IBAN is not valid');
  }
  if (b.accountNumber !== undefined && !ACCOUNT_NUMBER.test(b.accountNumber)) {
    problems.push('beneficiary account number must be 4-20 digits');
  }
  return problems;
}

/**
 * The shape checks added after the first revision: every field of the right type, no field nobody defined, no
 * control characters in ids and names, and waits within bounds. Kept apart from the rules because the workflow
 * applies them behind a patch: a run started before them must replay as it ran.
 */
export function paymentShapeProblems(request: JsonRecord): string[] {
  const problems = [
    ...unknownFieldProblems(request, PAYMENT_REQUEST_FIELDS),
    ...stringTypeProblems(request.paymentId, 'paymentId'),
    ...stringTypeProblems(request.fromAccountId, 'fromAccountId'),
    ...controlCharacterProblems(request.fromAccountId, 'fromAccountId'),
    ...stringTypeProblems(request.currency, 'currency'),
  ];
  const b = request.beneficiary;
  if (b !== undefined && b !== null && !isRecord(b)) problems.push('beneficiary must be an object');
  if (isRecord(b)) {
    problems.push(
      ...unknownFieldProblems(b, BENEFICIARY_FIELDS, 'beneficiary.'),
      ...stringTypeProblems(b.name, 'beneficiary name'),
      ...controlCharacterProblems(b.name, 'beneficiary name'),
      ...stringTypeProblems(b.country, 'beneficiary country'),
      ...stringTypeProblems(b.iban, 'beneficiary IBAN', true),
      ...stringTypeProblems(b.accountNumber, 'beneficiary account number', true),
    );
  }
  const timings = request.timings;
  if (timings !== undefined) {
    if (!isRecord(timings)) {
      problems.push('timings must be an object');
    } else {
      problems.push(...unknownFieldProblems(timings, TIMING_FIELDS, 'timings.'));
      for (const field of TIMING_FIELDS) {
        const value = timings[field];
        if (value === undefined) continue;
        const [min, max] = field === 'bankPollAttempts' ? [0, MAX_POLL_ATTEMPTS] : [1, MAX_WAIT_MS];
        if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
          problems.push(`timings.${field} must be a whole number from ${min} to ${max}`);
        }
      }
    }
  }
  return problems;
}
