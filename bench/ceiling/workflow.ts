/**
 * The engine ceiling: a workflow with a settled payment's shape — six activities in the payment's order, and the
 * bank's settlement signal awaited under a deadline — whose activities do nothing. Run on the same server with the
 * same worker settings, it shows what Temporal itself allows on this machine, so the benchmark can tell the
 * engine's limit from the cost of baton's own work.
 */
import {
  ApplicationFailure,
  condition,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { paymentSearchAttributes } from '../../workflows/payment-contract';
import type { CeilingActivities } from './activities';
import { ceilingSettledSignal, ceilingStatusQuery } from './contract';
import type { CeilingInput, CeilingState, CeilingStep } from './contract';

// The same timeout as the payment's steps; no retries are expected, so the policy does not matter here.
const remote = proxyActivities<CeilingActivities>({ startToCloseTimeout: '30 seconds' });
const local = proxyLocalActivities<CeilingActivities>({ startToCloseTimeout: '30 seconds' });

/** The run's state and `status` query, and a wait for the settlement signal, as both command sequences use them. */
function listen(input: CeilingInput) {
  const state: CeilingState = { id: input.id, steps: [] };
  let settledReference: string | undefined;
  setHandler(ceilingStatusQuery, () => state);
  setHandler(ceilingSettledSignal, ({ reference }) => {
    settledReference = reference;
  });
  return {
    state,
    record: (name: string) => state.steps.push({ name, at: new Date().toISOString() }),
    settled: async (reference: string): Promise<void> => {
      if (!(await condition(() => settledReference === reference, input.settleTimeoutMs))) {
        throw ApplicationFailure.nonRetryable(`no settlement signal for ${input.id}`);
      }
    },
  };
}

/** Runs the payment's shape with no work in it. */
export async function ceilingWorkflow(input: CeilingInput): Promise<CeilingState> {
  if (input.commands === 'baton') return batonCommands(input);
  const { state, record, settled } = listen(input);
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
  await settled(reference);
  await run('settle');
  record('settled');
  await run('contact');
  await run('notify');
  record('customer_notified');
  return state;
}

/**
 * The payment workflow's own command sequence for a settled payment (`test/replay/histories/payment-settled.v6.json`),
 * every step a no-op: two patches (each a marker and an upsert of TemporalChangeVersion), screening and the debit
 * local, one upsert, the submission regular, the signal under a deadline, the settlement local and one upsert, the
 * contact look-up local, the message regular, the outcome event local.
 */
async function batonCommands(input: CeilingInput): Promise<CeilingState> {
  const { state, record, settled } = listen(input);
  const { id } = input;

  patched('ceiling-first');
  patched('ceiling-second');
  record('received');
  await local.screen({ id });
  record('aml_screened');
  await local.debit({ id });
  record('debited');
  upsertSearchAttributes([
    { key: paymentSearchAttributes.status, value: 'submitted' },
    { key: paymentSearchAttributes.amlDecision, value: 'clear' },
    { key: paymentSearchAttributes.customerId, value: 'C-CEILING' },
  ]);
  record('submitted');
  const { reference } = await remote.submit({ id, workflowId: workflowInfo().workflowId });
  await settled(reference);
  await local.settle({ id });
  upsertSearchAttributes([{ key: paymentSearchAttributes.status, value: 'settled' }]);
  record('settled');
  await local.contact({ id });
  await remote.notify({ id });
  record('customer_notified');
  await local.announce({ id });
  return state;
}
