/**
 * The engine ceiling: a workflow with a settled payment's shape — six activities in the payment's order, and the
 * bank's settlement signal awaited under a deadline — whose activities do nothing. Run on the same server with the
 * same worker settings, it shows what Temporal itself allows on this machine, so the benchmark can tell the
 * engine's limit from the cost of baton's own work.
 */
import {
  ApplicationFailure,
  condition,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { CeilingActivities } from './activities';
import { ceilingSettledSignal, ceilingStatusQuery } from './contract';
import type { CeilingInput, CeilingState, CeilingStep } from './contract';

// The same timeout as the payment's steps; no retries are expected, so the policy does not matter here.
const remote = proxyActivities<CeilingActivities>({ startToCloseTimeout: '30 seconds' });
const local = proxyLocalActivities<CeilingActivities>({ startToCloseTimeout: '30 seconds' });

/** Runs the payment's shape with no work in it. */
export async function ceilingWorkflow(input: CeilingInput): Promise<CeilingState> {
  const state: CeilingState = { id: input.id, steps: [] };
  let settledReference: string | undefined;
  setHandler(ceilingStatusQuery, () => state);
  setHandler(ceilingSettledSignal, ({ reference }) => {
    settledReference = reference;
  });
  const record = (name: string) => state.steps.push({ name, at: new Date().toISOString() });
  const run = (step: Exclude<CeilingStep, 'submit'>) =>
    (input.localSteps.includes(step) ? local : remote)[step]({ id: input.id });

  record('received');
  await run('screen');
  record('aml_screened');
  await run('debit');
  record('debited');
  record('submitted');
  const { reference } = await (input.localSteps.includes('submit') ? local : remote).submit({
    id: input.id,
    workflowId: workflowInfo().workflowId,
  });
  if (!(await condition(() => settledReference === reference, input.settleTimeoutMs))) {
    throw ApplicationFailure.nonRetryable(`no settlement signal for ${input.id}`);
  }
  await run('settle');
  record('settled');
  await run('contact');
  await run('notify');
  record('customer_notified');
  return state;
}
