/** Client-side operations on registrations, shared by the CLI and the demo. */
import type { Client } from '@temporalio/client';
import { TASK_QUEUE } from '../workflows/task-queue';
import {
  changePreferenceUpdate,
  registrationSearchAttributes,
  RegistrationStatus,
  registrationStatusQuery,
  registrationWorkflowId,
} from '../workflows/registration-contract';
import type {
  PreferenceChange,
  RegistrationRequest,
  RegistrationState,
} from '../workflows/registration-contract';
import { startOnce } from './start-once';
import type { StartedRun } from './start-once';

/** Starts the registration workflow under its business key; the same registration id never registers twice. */
export function startRegistration(
  client: Client,
  request: RegistrationRequest,
  taskQueue: string = TASK_QUEUE,
  correlationId?: string,
): Promise<StartedRun<RegistrationRequest, RegistrationState>> {
  return startOnce<RegistrationRequest, RegistrationState>(client, {
    workflowType: 'registrationWorkflow',
    workflowId: registrationWorkflowId(request.registrationId),
    taskQueue,
    input: request,
    ...(correlationId === undefined ? {} : { correlationId }),
    summary: `Register ${request.registrationId}: ${request.currency} account, welcome by ${request.channel}`,
    details: [
      `**Registration** \`${request.registrationId}\``,
      '',
      `- account currency: ${request.currency}`,
      `- welcome channel: ${request.channel} (can change until the welcome is sent)`,
      '- name, email and phone: in the encrypted input',
    ].join('\n'),
    searchAttributes: [{ key: registrationSearchAttributes.status, value: RegistrationStatus.Received }],
  });
}

/** Where a registration stands, from its workflow. */
export function registrationState(client: Client, registrationId: string): Promise<RegistrationState> {
  return client.workflow.getHandle(registrationWorkflowId(registrationId)).query(registrationStatusQuery);
}

/** Changes the welcome channel of a registration; refused once the welcome is on its way. */
export function changePreference(
  client: Client,
  registrationId: string,
  change: PreferenceChange,
): Promise<RegistrationState> {
  return client.workflow
    .getHandle(registrationWorkflowId(registrationId))
    .executeUpdate(changePreferenceUpdate, { args: [change] });
}
