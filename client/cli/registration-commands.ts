/** The CLI's registration commands: `register`, and `status` of a registration. */
import type { Config } from '../../config/config';
import { quoted } from '../../domain/input-checks';
import { isCurrency } from '../../domain/money';
import {
  registrationSearchAttributes,
  RegistrationStatus,
  registrationWorkflowId,
} from '../../workflows/registration-contract';
import { registrationRequestProblems } from '../../workflows/registration-checks';
import type { RegistrationRequest, RegistrationState } from '../../workflows/registration-contract';
import type { Channel } from '../../domain/customer-terms';
import {
  noPositionals,
  output,
  parse,
  randomSuffix,
  required,
  UsageError,
  usageErrorFor,
  withClient,
} from './support';

// Loaded once the input has passed, as in the CLI's payment commands.
const registrations = () => import('../registrations');
const payments = () => import('../payments');

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

function requestFromFlags(values: Record<string, string | boolean | undefined>): RegistrationRequest {
  const channel = required(values.channel, '--channel');
  if (channel !== 'email' && channel !== 'sms') throw new UsageError('--channel must be "email" or "sms"');
  const currency = required(values.currency, '--currency').toUpperCase();
  if (!isCurrency(currency)) throw new UsageError(`--currency: unknown currency ${quoted(currency)}`);
  const phone = typeof values.phone === 'string' ? values.phone.replace(/[\s()-]/g, '') : undefined;
  const request: RegistrationRequest = {
    registrationId:
      typeof values.id === 'string' ? values.id : `reg-${Date.now().toString(36)}-${randomSuffix()}`,
    name: required(values.name, '--name'),
    email: required(values.email, '--email'),
    ...(phone === undefined ? {} : { phone }),
    channel: channel satisfies Channel,
    currency,
  };
  const problems = registrationRequestProblems(request);
  if (problems.length > 0) throw usageErrorFor(problems, REGISTRATION_FLAGS);
  return request;
}

function describe(state: RegistrationState, uiUrl: string): string {
  const lines = [
    `registration ${state.registrationId}: ${state.status}${state.reason ? ` (${state.reason})` : ''}`,
  ];
  if (state.reasonDetail) lines.push(`  detail:   ${state.reasonDetail}`);
  if (state.customerId) lines.push(`  customer: ${state.customerId}`);
  if (state.accountId) lines.push(`  account:  ${state.accountId} (${state.currency})`);
  lines.push(`  channel:  ${state.channel}`);
  if (state.welcome)
    lines.push(`  welcome:  ${state.welcome}${state.welcomeDetail ? ` — ${state.welcomeDetail}` : ''}`);
  lines.push('  steps:');
  for (const step of state.steps)
    lines.push(`    ${step.at}  ${step.name}${step.detail ? ` — ${step.detail}` : ''}`);
  lines.push(`  UI:       ${uiUrl}`);
  return lines.join('\n');
}

function asJson(
  state: RegistrationState,
  workflowId: string,
  uiUrl: string,
  extra: Record<string, unknown> = {},
) {
  return {
    workflowId,
    ...extra,
    ...state,
    reason: state.reason ?? null,
    welcome: state.welcome ?? null,
    uiUrl,
  };
}

/** `register`: starts a registration (once per registration id); `--wait` waits for its end. */
export async function register(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    name: { type: 'string' },
    email: { type: 'string' },
    phone: { type: 'string' },
    channel: { type: 'string' },
    currency: { type: 'string' },
    id: { type: 'string' },
    wait: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  });
  noPositionals(positionals);
  const request = requestFromFlags(values);
  const print = output(values.json === true);
  const { startRegistration } = await registrations();
  const { runUiUrl } = await payments();
  return withClient(config, async (client) => {
    const started = await startRegistration(client, request);
    const uiUrl = runUiUrl(
      config.TEMPORAL_UI_URL,
      config.TEMPORAL_NAMESPACE,
      started.workflowId,
      started.runId,
    );
    const extra = { runId: started.runId, existing: started.existing };
    if (!values.json) {
      console.log(
        `${started.existing ? 'registration already exists' : 'registration started'}: ${request.registrationId} ` +
          `(workflow ${started.workflowId})\n  UI: ${uiUrl}`,
      );
    }
    if (values.wait) {
      const state = await started.handle.result();
      print(describe(state, uiUrl), asJson(state, started.workflowId, uiUrl, extra));
      return 0;
    }
    const described = await started.handle.describe();
    const status =
      described.typedSearchAttributes.get(registrationSearchAttributes.status) ?? RegistrationStatus.Received;
    print(`  status: ${status}`, {
      registrationId: request.registrationId,
      workflowId: started.workflowId,
      ...extra,
      status,
      reason: null,
      welcome: null,
      uiUrl,
    });
    return 0;
  });
}

/** `status` of a registration. */
export async function registrationStatus(
  config: Config,
  registrationId: string,
  json: boolean,
  notFound = 'no registration with id',
): Promise<number> {
  const workflowId = registrationWorkflowId(registrationId);
  const { WorkflowNotFoundError } = await import('@temporalio/client');
  const { registrationState } = await registrations();
  const { runUiUrl } = await payments();
  return withClient(config, async (client) => {
    try {
      const described = await client.workflow.getHandle(workflowId).describe();
      const uiUrl = runUiUrl(config.TEMPORAL_UI_URL, config.TEMPORAL_NAMESPACE, workflowId, described.runId);
      const state = await registrationState(client, registrationId);
      output(json)(describe(state, uiUrl), asJson(state, workflowId, uiUrl));
      return 0;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        console.error(`${notFound} ${registrationId}`);
        return 1;
      }
      throw err;
    }
  });
}
