/**
 * The ceiling's activities: each returns at once. `submit` asks for the settlement signal the way the bank's
 * webhook does for a payment, one signal from outside the workflow, sent right after the activity answers.
 */
import type { Client } from '@temporalio/client';
import { ceilingSettledSignal } from './contract';

/** Input of every no-op step. */
export interface CeilingStepInput {
  id: string;
}

/** Counts of settlement signals that could not be sent (a run then fails on its deadline). */
export interface CeilingSignalStats {
  failed: number;
}

/** Builds the no-op activities; `client` sends the settlement signals. */
export function createCeilingActivities(client: Client, stats: CeilingSignalStats = { failed: 0 }) {
  const nothing = (_input: CeilingStepInput): Promise<Record<string, never>> => Promise.resolve({});
  return {
    screen: nothing,
    debit: nothing,
    settle: nothing,
    contact: nothing,
    notify: nothing,
    announce: nothing,
    /** Answers with a reference, then signals the workflow as a bank settling at once would. */
    submit(input: CeilingStepInput & { workflowId: string }): Promise<{ reference: string }> {
      const reference = `ref-${input.id}`;
      setImmediate(() => {
        client.workflow
          .getHandle(input.workflowId)
          .signal(ceilingSettledSignal, { reference })
          .catch(() => {
            stats.failed += 1;
          });
      });
      return Promise.resolve({ reference });
    },
  };
}

/** The ceiling's activities, as the workflow sees their types. */
export type CeilingActivities = ReturnType<typeof createCeilingActivities>;
