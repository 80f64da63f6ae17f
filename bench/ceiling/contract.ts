/**
 * The ceiling workflow's contract: its input, result, signal and query, shared by the workflow, its no-op
 * activities and the benchmark that drives it.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

/** Steps of the ceiling, in the order the payment workflow runs them when the bank settles. */
export const CEILING_STEPS = ['screen', 'debit', 'submit', 'settle', 'contact', 'notify'] as const;
/** One of {@link CEILING_STEPS}. */
export type CeilingStep = (typeof CEILING_STEPS)[number];

/**
 * Which command sequence a ceiling run issues: `straightforward`, the payment's shape as six regular activities and
 * a signal (the reference for what a plain Temporal implementation costs the engine); `baton`, the commands the
 * payment workflow issues today (its lean steps: two patches, four local activities before and after the bank, two
 * regular ones, a marker for the outcome event, one upsert per state change), each doing nothing.
 */
export type CeilingCommands = 'straightforward' | 'baton';

/** Input of {@link ceilingWorkflow}. */
export interface CeilingInput {
  id: string;
  /** The command sequence; `straightforward` when absent. */
  commands?: CeilingCommands;
  /** How long to wait for the settlement signal before failing (the payment waits an hour, then polls). */
  settleTimeoutMs: number;
  /** Steps run as local activities instead (an experiment: what the engine saves when a step goes local). */
  localSteps: CeilingStep[];
}

/** One recorded step, with the workflow time it happened (as the payment's `status` records them). */
export interface CeilingStepRecord {
  name: string;
  at: string;
}

/** Result and `status` of the ceiling workflow. */
export interface CeilingState {
  id: string;
  steps: CeilingStepRecord[];
}

/** The stand-in for the bank's final status. */
export const ceilingSettledSignal = defineSignal<[{ reference: string }]>('settled');
/** Where the run stands. */
export const ceilingStatusQuery = defineQuery<CeilingState>('status');
