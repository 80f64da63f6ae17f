/**
 * The checks of a registration request: the rules every revision of the workflow applied, and the shape checks
 * added later behind a patch. Deterministic and free of I/O, run by the workflow and first by the client.
 */
import {
  controlCharacterProblems,
  quoted,
  requestProblems,
  rulesThatNeverThrow,
  stringTypeProblems,
  unknownFieldProblems,
} from '../domain/input-checks';
import type { JsonRecord, RequestCheck } from '../domain/input-checks';
import { isCurrency } from '../domain/money';
import type { RegistrationRequest } from './registration-contract';

const REGISTRATION_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
// Deliberately plain: one @, a dot in the domain, no spaces; the mail server is the final judge.
const EMAIL = /^[^\s@<>()[\],;:"]+@[^\s@<>()[\],;:"]+\.[A-Za-z]{2,}$/;
const E164 = /^\+[1-9][0-9]{6,14}$/;

/** True when `email` looks like an address baton can send to. */
export function isEmail(email: string): boolean {
  return email.length <= 254 && EMAIL.test(email);
}

/** True when `phone` is in E.164 form. */
export function isE164(phone: string): boolean {
  return E164.test(phone);
}

/** Fields a registration request may carry; anything else is refused by name. */
const REGISTRATION_FIELDS = [
  'registrationId',
  'name',
  'email',
  'phone',
  'channel',
  'currency',
] as const satisfies readonly (keyof RegistrationRequest)[];

/** Why a registration input that is not even an object is refused. */
export const NOT_A_REGISTRATION_REQUEST = 'the registration request must be an object';

/**
 * Every problem with a registration, in words, each naming its field; empty when valid. What a client checks
 * before starting one: {@link registrationRuleProblems} and {@link registrationShapeProblems} together.
 */
export function registrationRequestProblems(request: unknown): string[] {
  return requestProblems(
    request,
    NOT_A_REGISTRATION_REQUEST,
    registrationRuleProblems,
    registrationShapeProblems,
  );
}

/**
 * The rules every revision of the registration workflow has applied: id, name, email, E.164 phone, channel and
 * currency. Deterministic; it never throws, whatever it is given.
 */
export const registrationRuleProblems: RequestCheck = rulesThatNeverThrow(
  (input) => firstRevisionRuleProblems(input),
  (input) => registrationShapeProblems(input),
  'the registration request holds a value that cannot be read',
);

function firstRevisionRuleProblems(request: Partial<RegistrationRequest>): string[] {
  // The first revision's expressions, kept as they were so every input decides the same way on replay.
  const problems: string[] = [];
  if (!REGISTRATION_ID.test(request.registrationId ?? '')) {
    problems.push(
      'registrationId must be 1-64 letters, digits, "-", "_" or "." and start with a letter or digit',
    );
  }
  if (typeof request.name !== 'string' || request.name.trim().length < 1 || request.name.length > 140) {
    problems.push('name must be 1-140 characters');
  }
  if (typeof request.email !== 'string' || !isEmail(request.email))
    problems.push('email is not a valid address');
  if (request.phone !== undefined && !isE164(request.phone)) {
    problems.push('phone must be in E.164 form, e.g. +4915112345678');
  }
  if (request.channel !== 'email' && request.channel !== 'sms')
    problems.push('channel must be "email" or "sms"');
  if (request.channel === 'sms' && request.phone === undefined) problems.push('SMS needs a phone number');
  if (!isCurrency(request.currency ?? ''))
    problems.push(`currency ${quoted(request.currency)} is not supported`);
  return problems;
}

/**
 * The shape checks added after the first revision: field types, no unknown fields, no control characters in the
 * id, name or email. The workflow applies them behind a patch, so a run started before them replays as it ran.
 */
export function registrationShapeProblems(request: JsonRecord): string[] {
  return [
    ...unknownFieldProblems(request, REGISTRATION_FIELDS),
    ...stringTypeProblems(request.registrationId, 'registrationId'),
    ...stringTypeProblems(request.name, 'name'),
    ...controlCharacterProblems(request.name, 'name'),
    ...stringTypeProblems(request.email, 'email'),
    ...controlCharacterProblems(request.email, 'email'),
    ...stringTypeProblems(request.phone, 'phone', true),
    ...stringTypeProblems(request.currency, 'currency'),
  ];
}
