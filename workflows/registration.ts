/**
 * The registration process: validate, create the customer, open their ledger account, welcome them on the channel
 * they chose, complete. The account is never rolled back for a message: a welcome that cannot be delivered is
 * recorded and the registration still completes.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  patched,
  setCurrentDetails,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { RegistrationActivities } from '../activities/registration';
import { isRecord } from '../domain/input-checks';
import { deliver } from './notify';
import {
  changePreferenceUpdate,
  RegistrationFailureType,
  RegistrationRejection,
  registrationSearchAttributes,
  RegistrationStatus,
  registrationStatusQuery,
} from './registration-contract';
import {
  isE164,
  NOT_A_REGISTRATION_REQUEST,
  registrationRuleProblems,
  registrationShapeProblems,
} from './registration-checks';
import type { PreferenceChange, RegistrationRequest, RegistrationState } from './registration-contract';
import { proxySummarizedActivities } from './activity-summary';
import { retryForever } from './retry-presets';
import { DOMAIN_EVENTS, publishRegistrationCompleted } from './domain-events';
import { countNotification, countRegistrationEnded } from './metrics';

// Creating the customer and the account must eventually happen; a database outage only delays them.
const { createCustomer, openCustomerAccount, setContactPreference } =
  proxySummarizedActivities<RegistrationActivities>({
    startToCloseTimeout: '30 seconds',
    retry: retryForever,
  });

/**
 * The shape checks (field types, unknown fields, control characters) came after the first revision; the patch is
 * asked only when they find a problem, so a valid registration's history is what it always was.
 */
const STRICT_INPUT_SHAPE = 'strict-input-shape';

/** Registers a customer and welcomes them. Returns where the registration ended. */
export async function registrationWorkflow(request: RegistrationRequest): Promise<RegistrationState> {
  if (!isRecord(request)) {
    // Nothing to build a state from: the run fails at once, with a failure no retry would change.
    throw ApplicationFailure.create({
      type: RegistrationFailureType.InvalidRequest,
      message: NOT_A_REGISTRATION_REQUEST,
      nonRetryable: true,
    });
  }
  const state: RegistrationState = {
    registrationId: request.registrationId,
    status: RegistrationStatus.Received,
    channel: request.channel,
    currency: request.currency,
    steps: [],
  };
  let phone = request.phone;
  let welcomeStarted = false;

  const record = (name: string, detail?: string) =>
    state.steps.push({ name, at: new Date().toISOString(), ...(detail === undefined ? {} : { detail }) });
  const moveTo = (status: RegistrationStatus, detail?: string) => {
    state.status = status;
    record(status, detail);
    upsertSearchAttributes([{ key: registrationSearchAttributes.status, value: status }]);
    setCurrentDetails(registrationDetails(state));
    if (status === RegistrationStatus.Completed || status === RegistrationStatus.Rejected) {
      countRegistrationEnded(status, state.reason);
    }
  };

  setHandler(registrationStatusQuery, () => state);
  setHandler(
    changePreferenceUpdate,
    (change: PreferenceChange) => {
      state.channel = change.channel;
      if (change.phone !== undefined) phone = change.phone;
      record('preference_changed', change.channel);
      return state;
    },
    {
      // Once the welcome is on its way, the channel it goes by is decided.
      validator: (change: PreferenceChange) => {
        if (welcomeStarted || state.status === RegistrationStatus.Rejected) {
          throw new Error(
            `registration ${state.registrationId} is ${state.status}; the welcome channel is decided`,
          );
        }
        if (change.channel !== 'email' && change.channel !== 'sms')
          throw new Error('channel must be "email" or "sms"');
        if (change.phone !== undefined && !isE164(change.phone))
          throw new Error('phone must be in E.164 form');
        if (change.channel === 'sms' && change.phone === undefined && phone === undefined) {
          throw new Error('SMS needs a phone number');
        }
      },
    },
  );

  upsertSearchAttributes([{ key: registrationSearchAttributes.status, value: RegistrationStatus.Received }]);
  record(RegistrationStatus.Received);
  setCurrentDetails(registrationDetails(state));

  const problems = registrationRuleProblems(request);
  const shape = registrationShapeProblems(request);
  // Refused by the rules anyway, the shape problems only make the reason more precise; otherwise they decide,
  // which is the patched change.
  if (problems.length > 0 || (shape.length > 0 && patched(STRICT_INPUT_SHAPE))) {
    problems.push(...shape.filter((problem) => !problems.includes(problem)));
  }
  if (problems.length > 0) return reject(RegistrationRejection.Invalid, problems.join('; '));

  // --- Create the customer.
  let customerId: string;
  try {
    ({ customerId } = await createCustomer(`create the customer of ${request.registrationId}`, {
      registrationId: request.registrationId,
      name: request.name,
      email: request.email,
      ...(request.phone === undefined ? {} : { phone: request.phone }),
      channel: request.channel,
    }));
  } catch (err) {
    if (
      err instanceof ActivityFailure &&
      err.cause instanceof ApplicationFailure &&
      err.cause.type === RegistrationFailureType.DuplicateEmail
    ) {
      return reject(RegistrationRejection.DuplicateEmail, 'this email address is already registered');
    }
    throw err;
  }
  state.customerId = customerId;
  upsertSearchAttributes([{ key: registrationSearchAttributes.customerId, value: customerId }]);
  moveTo(RegistrationStatus.CustomerCreated);

  // --- Open the ledger account.
  const { accountId } = await openCustomerAccount(`open a ${request.currency} account for ${customerId}`, {
    customerId,
    currency: request.currency,
  });
  state.accountId = accountId;
  moveTo(RegistrationStatus.AccountOpened);

  // --- Welcome, on the channel chosen by now. From here on the preference is fixed.
  welcomeStarted = true;
  if (state.channel !== request.channel || phone !== request.phone) {
    await setContactPreference(`record ${state.channel} as ${customerId}'s channel`, {
      customerId,
      channel: state.channel,
      ...(phone === undefined ? {} : { phone }),
    });
  }
  const welcome = await deliver({
    customerId,
    channel: state.channel,
    key: `${workflowInfo().workflowId}:welcome`,
    content: { kind: 'welcome', customerId, accountId, currency: request.currency },
  });
  state.welcome = welcome.outcome;
  if (welcome.detail !== undefined) state.welcomeDetail = welcome.detail;
  countNotification('welcome', state.channel, welcome.outcome);
  moveTo(RegistrationStatus.Welcomed, welcome.outcome);

  moveTo(RegistrationStatus.Completed);
  // Other domains react to the completed registration (seed 000); runs from before the event replay without it.
  if (patched(DOMAIN_EVENTS)) {
    const published = await publishRegistrationCompleted(`announce registration.completed of ${customerId}`, {
      workflowId: workflowInfo().workflowId,
      occurredAt: new Date().toISOString(),
      data: {
        registrationId: request.registrationId,
        customerId,
        accountId,
        currency: request.currency,
        channel: state.channel,
        welcome: welcome.outcome,
        name: request.name,
        email: request.email,
        ...(phone === undefined ? {} : { phone }),
      },
    });
    record('completion_announced', published.published ? published.eventId : 'no bus configured');
  }
  return state;

  function reject(reason: RegistrationRejection, detail: string): RegistrationState {
    state.reason = reason;
    state.reasonDetail = detail;
    moveTo(RegistrationStatus.Rejected, reason);
    return state;
  }
}

/** The run's current details for the Temporal UI: where the registration stands, without personal data. */
function registrationDetails(state: RegistrationState): string {
  const at = `${new Date().toISOString().slice(11, 19)} UTC`;
  switch (state.status) {
    case RegistrationStatus.Received:
      // A refused request may carry anything as its channel; only a channel's name goes into the text.
      return `Creating the customer since ${at}; welcome planned by ${typeof state.channel === 'string' ? state.channel : 'no valid channel'}.`;
    case RegistrationStatus.CustomerCreated:
      return `Customer ${state.customerId ?? ''} created at ${at}; opening the ${state.currency} account.`;
    case RegistrationStatus.AccountOpened:
      return `Account ${state.accountId ?? ''} open since ${at}; sending the welcome by ${state.channel}.`;
    case RegistrationStatus.Welcomed:
      return `Welcome ${state.welcome ?? ''} at ${at}.`;
    case RegistrationStatus.Completed:
      return `Completed at ${at}: account ${state.accountId ?? ''}, welcome ${state.welcome ?? ''}.`;
    default:
      return `Rejected at ${at} (${state.reason ?? 'no reason'}).`;
  }
}
