/**
 * The public contract of the registration process: ids, messages, input and result types, status values.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import {
  controlCharacterProblems,
  isRecord,
  quoted,
  stringTypeProblems,
  unknownFieldProblems,
} from './input-checks';
import type { JsonRecord } from './input-checks';
import { isCurrency } from './money';
import type { Currency } from './money';
import { searchAttributeKeys } from './search-attributes';

/** Revision of the registration workflow's code, as replay fixture files are named; see PAYMENT_REVISION. */
export const REGISTRATION_REVISION = 'v2';

/** Workflow id of a registration: a business key, so registering the same id twice finds the same run. */
export function registrationWorkflowId(registrationId: string): string {
  return `registration:${registrationId}`;
}

/** How a customer wants to hear from baton. */
export const Channel = {
  /** By email, through SMTP. */
  Email: 'email',
  /** By SMS, through Twilio. */
  Sms: 'sms',
} as const;
/** One of {@link Channel}. */
export type Channel = (typeof Channel)[keyof typeof Channel];

/** Where a registration stands. */
export const RegistrationStatus = {
  /** Accepted by the workflow; nothing created yet. */
  Received: 'received',
  /** The customer record exists. */
  CustomerCreated: 'customer_created',
  /** The customer's ledger account is open. */
  AccountOpened: 'account_opened',
  /** The welcome went out (or could not, and that is recorded). */
  Welcomed: 'welcomed',
  /** Done. */
  Completed: 'completed',
  /** Refused; see the reason. Nothing was created. */
  Rejected: 'rejected',
} as const;
/** One of {@link RegistrationStatus}. */
export type RegistrationStatus = (typeof RegistrationStatus)[keyof typeof RegistrationStatus];

/** Why a registration was refused. */
export const RegistrationRejection = {
  /** The request itself was malformed. */
  Invalid: 'invalid',
  /** Another customer already registered this email address. */
  DuplicateEmail: 'duplicate_email',
} as const;
/** One of {@link RegistrationRejection}. */
export type RegistrationRejection = (typeof RegistrationRejection)[keyof typeof RegistrationRejection];

/** `type` of the non-retryable failures registration activities raise; the workflow branches on them. */
export const RegistrationFailureType = {
  /** Another customer already holds the email address. */
  DuplicateEmail: 'DuplicateEmail',
  /** The workflow was given something that is not a registration request at all; the run fails with it. */
  InvalidRequest: 'InvalidRegistrationRequest',
} as const;

/** How a message to the customer ended. */
export const DeliveryOutcome = {
  /** Delivered by email, as chosen. */
  SentEmail: 'sent_email',
  /** Delivered by SMS, as chosen. */
  SentSms: 'sent_sms',
  /** SMS was refused for good (invalid or unsubscribed number), so it went by email. */
  FellBackToEmail: 'fell_back_to_email',
  /** It could not be delivered on any channel; recorded, and the process went on. */
  Undeliverable: 'undeliverable',
} as const;
/** One of {@link DeliveryOutcome}. */
export type DeliveryOutcome = (typeof DeliveryOutcome)[keyof typeof DeliveryOutcome];

/** What a person registers with. Personal data: never in ids, search attributes or logs. */
export interface RegistrationRequest {
  registrationId: string;
  name: string;
  email: string;
  /** E.164, e.g. +4915112345678; required for SMS. */
  phone?: string;
  channel: Channel;
  /** Currency of the ledger account to open. */
  currency: Currency;
}

/** One step the registration went through, with the workflow time it happened. */
export interface RegistrationStep {
  name: string;
  at: string;
  detail?: string;
}

/** Answer of the `status` query and the workflow's result. */
export interface RegistrationState {
  registrationId: string;
  status: RegistrationStatus;
  reason?: RegistrationRejection;
  reasonDetail?: string;
  channel: Channel;
  currency: string;
  customerId?: string;
  accountId?: string;
  welcome?: DeliveryOutcome;
  welcomeDetail?: string;
  steps: RegistrationStep[];
}

/** A new contact preference; a phone comes with it when switching to SMS without one. */
export interface PreferenceChange {
  channel: Channel;
  phone?: string;
}

/** Where the registration stands. */
export const registrationStatusQuery = defineQuery<RegistrationState>('status');
/** Change the channel of the welcome; accepted until the welcome is sent. */
export const changePreferenceUpdate = defineUpdate<RegistrationState, [PreferenceChange]>('changePreference');

/** Typed key of the registration search attribute; no personal data in it. */
export const registrationSearchAttributes = {
  status: searchAttributeKeys.registrationStatus,
  customerId: searchAttributeKeys.customerId,
};

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
  if (!isRecord(request)) return [NOT_A_REGISTRATION_REQUEST];
  return [...new Set([...registrationRuleProblems(request), ...registrationShapeProblems(request)])];
}

/**
 * The rules every revision of the registration workflow has applied: id, name, email, E.164 phone, channel and
 * currency. Deterministic; it never throws, whatever it is given.
 */
export function registrationRuleProblems(input: JsonRecord): string[] {
  try {
    return firstRevisionRuleProblems(input);
  } catch {
    // Only a value that cannot even be read as text gets here; the shape checks name the field.
    const shape = registrationShapeProblems(input);
    return shape.length > 0 ? shape : ['the registration request holds a value that cannot be read'];
  }
}

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
