/**
 * Test-only workflows for the payload encryption tests: one hands its input through an activity and returns it,
 * one fails with a message that quotes its input. Both carry personal data on purpose.
 */
import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';

/** What both workflows take: a person's name and a free note. */
export interface EchoInput {
  name: string;
  note: string;
}

/** The activity the echo workflow calls. */
export interface EchoActivities {
  echo(input: EchoInput): Promise<EchoInput>;
}

const { echo } = proxyActivities<EchoActivities>({ startToCloseTimeout: '30 seconds' });

/** Returns its input after a round trip through an activity. */
export async function echoWorkflow(input: EchoInput): Promise<EchoInput> {
  return echo(input);
}

/** Fails at once, with the name in the failure message. */
export function refuseWorkflow(input: EchoInput): Promise<void> {
  return Promise.reject(ApplicationFailure.nonRetryable(`cannot serve ${input.name}`, 'Refused'));
}
