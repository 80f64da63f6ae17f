/** The CLI's registration commands: `register`, `status` of a registration, and `change-preference`. */
import type { Config } from '../../config/config';
import type { Channel } from '../../domain/customer-terms';
import { quoted } from '../../domain/input-checks';
import { isCurrency } from '../../domain/money';
import { isE164, registrationRequestProblems } from '../../workflows/registration-checks';
import {
  registrationSearchAttributes,
  RegistrationStatus,
  registrationWorkflowId,
} from '../../workflows/registration-contract';
import type {
  PreferenceChange,
  RegistrationRequest,
  RegistrationState,
} from '../../workflows/registration-contract';
import { describeState, printStatus, startAndReport, stateJson, withRun } from './runs';
import type { ProcessView } from './runs';
import {
  correlationIdFlag,
  noPositionals,
  oneId,
  output,
  parse,
  randomSuffix,
  required,
  UsageError,
  usageErrorFor,
} from './support';

// Loaded once the input has passed, as in the CLI's payment commands.
const registrations = () => import('../registrations');

/** How the CLI speaks of registrations. */
export const REGISTRATION_VIEW: ProcessView<RegistrationState> = {
  noun: 'registration',
  idField: 'registrationId',
  workflowId: registrationWorkflowId,
  statusAttribute: registrationSearchAttributes.status,
  initialStatus: RegistrationStatus.Received,
  nullFields: ['reason', 'welcome'],
  headline(state) {
    const lines = [
      `registration ${state.registrationId}: ${state.status}${state.reason ? ` (${state.reason})` : ''}`,
    ];
    if (state.reasonDetail) lines.push(`  detail:   ${state.reasonDetail}`);
    if (state.customerId) lines.push(`  customer: ${state.customerId}`);
    if (state.accountId) lines.push(`  account:  ${state.accountId} (${state.currency})`);
    lines.push(`  channel:  ${state.channel}`);
    if (state.welcome)
      lines.push(`  welcome:  ${state.welcome}${state.welcomeDetail ? ` — ${state.welcomeDetail}` : ''}`);
    return lines;
  },
  async state(client, id) {
    return (await registrations()).registrationState(client, id);
  },
};

/** Which flag each field of a registration comes from. */
const REGISTRATION_FLAGS = [
  ['registrationId', '--id'],
  ['name', '--name'],
  ['email', '--email'],
  ['phone', '--phone'],
  ['SMS needs', '--phone'],
  ['channel', '--channel'],
  ['currency', '--currency'],
] as const;

/** The channel a `--channel` flag names, or a UsageError. */
function channelFlag(value: string | boolean | undefined): Channel {
  const channel = required(value, '--channel');
  if (channel !== 'email' && channel !== 'sms') throw new UsageError('--channel must be "email" or "sms"');
  return channel;
}

/** A `--phone` flag as E.164 digits: spaces, brackets and dashes people type are dropped. */
function phoneFlag(value: string | boolean | undefined): string | undefined {
  return typeof value === 'string' ? value.replace(/[\s()-]/g, '') : undefined;
}

export function registrationRequestFromFlags(
  values: Record<string, string | boolean | undefined>,
): RegistrationRequest {
  const channel = channelFlag(values.channel);
  const currency = required(values.currency, '--currency').toUpperCase();
  if (!isCurrency(currency)) throw new UsageError(`--currency: unknown currency ${quoted(currency)}`);
  const phone = phoneFlag(values.phone);
  const request: RegistrationRequest = {
    registrationId:
      typeof values.id === 'string' ? values.id : `reg-${Date.now().toString(36)}-${randomSuffix()}`,
    name: required(values.name, '--name'),
    email: required(values.email, '--email'),
    ...(phone === undefined ? {} : { phone }),
    channel,
    currency,
  };
  const problems = registrationRequestProblems(request);
  if (problems.length > 0) throw usageErrorFor(problems, REGISTRATION_FLAGS);
  return request;
}

/** The flags that describe a registration, for `register` and `publish register`. */
export const REGISTRATION_REQUEST_OPTIONS = {
  name: { type: 'string' },
  email: { type: 'string' },
  phone: { type: 'string' },
  channel: { type: 'string' },
  currency: { type: 'string' },
  id: { type: 'string' },
  'correlation-id': { type: 'string' },
  json: { type: 'boolean', default: false },
} as const;

/** `register`: starts a registration (once per registration id); `--wait` waits for its end. */
export async function register(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    ...REGISTRATION_REQUEST_OPTIONS,
    wait: { type: 'boolean', default: false },
  });
  noPositionals(positionals);
  const request = registrationRequestFromFlags(values);
  const correlationId = correlationIdFlag(values['correlation-id']);
  const { startRegistration } = await registrations();
  return startAndReport(
    config,
    REGISTRATION_VIEW,
    request.registrationId,
    (client) => startRegistration(client, request, undefined, correlationId),
    { wait: values.wait === true, json: values.json === true, correlationId },
  );
}

/** `status` of a registration. */
export function registrationStatus(
  config: Config,
  registrationId: string,
  json: boolean,
  notFound?: string,
): Promise<number> {
  return printStatus(config, REGISTRATION_VIEW, registrationId, json, notFound);
}

/**
 * `change-preference <registrationId> --channel email|sms [--phone <E.164>]`: the channel the welcome goes by,
 * accepted until the welcome is on its way.
 */
export async function changePreference(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    channel: { type: 'string' },
    phone: { type: 'string' },
    json: { type: 'boolean', default: false },
  });
  const registrationId = oneId(positionals, 'change-preference needs a registration id');
  const phone = phoneFlag(values.phone);
  if (phone !== undefined && !isE164(phone)) {
    throw new UsageError('--phone: phone must be in E.164 form, e.g. +4915112345678');
  }
  const change: PreferenceChange = {
    channel: channelFlag(values.channel),
    ...(phone === undefined ? {} : { phone }),
  };
  const { changePreference: sendChange } = await registrations();
  return withRun(
    config,
    REGISTRATION_VIEW,
    registrationId,
    'change-preference',
    async ({ client, workflowId, uiUrl }) => {
      const state = await sendChange(client, registrationId, change);
      output(values.json === true)(
        describeState(REGISTRATION_VIEW, state, uiUrl),
        stateJson(REGISTRATION_VIEW, state, workflowId, uiUrl),
      );
      return 0;
    },
  );
}
