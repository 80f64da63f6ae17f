/**
 * The public contract of the registration process: ids, messages, input and result types, status values.
 */
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { Currency } from '../domain/money';
import type { Channel, DeliveryOutcome } from '../domain/customer-terms';
import { searchAttributeKeys } from '../temporal/search-attributes';

/** Revision of the registration workflow's code, as replay fixture files are named; see PAYMENT_REVISION. */
export const REGISTRATION_REVISION = 'v3';

/** Workflow id of a registration: a business key, so registering the same id twice finds the same run. */
export function registrationWorkflowId(registrationId: string): string {
  return `registration:${registrationId}`;
}

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
  /** A message was addressed to a customer baton has no record of. */
  CustomerNotFound: 'CustomerNotFound',
} as const;

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
