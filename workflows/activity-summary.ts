/**
 * Activities with a one-line summary per call: the Temporal UI shows it on the step in the run's timeline, so a
 * reader sees "debit 12.34 EUR from A-1001-EUR" instead of a bare activity name. Summaries carry ids and amounts
 * only, never personal data.
 */
import type { ActivityInterface, ActivityOptions, LocalActivityOptions } from '@temporalio/common';
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { ActivityFunctionWithOptions, LocalActivityFunctionWithOptions } from '@temporalio/workflow';

/** One caller per activity of `A`: the summary first, then the activity's own arguments. */
export type SummarizedActivities<A extends ActivityInterface> = {
  readonly [K in keyof A & string]: (
    summary: string,
    ...args: Parameters<A[K]>
  ) => Promise<Awaited<ReturnType<A[K]>>>;
};

/**
 * Proxies activities with fixed options, as `proxyActivities` does: destructure the ones to call, and each call
 * reads `debitAccount(summary, input)`.
 */
export function proxySummarizedActivities<A extends ActivityInterface>(
  options: ActivityOptions,
): SummarizedActivities<A> {
  const proxy = proxyActivities<A>(options);
  return summarized<A>((name, summary, args) => {
    const activity = proxy[name] as ActivityFunctionWithOptions<A[keyof A & string]>;
    return activity.executeWithOptions({ ...options, summary }, args);
  });
}

/**
 * The same for local activities: run by the worker that runs the workflow task and recorded as one marker, with no
 * task of their own to dispatch. For steps that are short, safe to repeat (a worker that dies mid-step runs them
 * again) and need no retry schedule beyond the workflow's own.
 */
export function proxySummarizedLocalActivities<A extends ActivityInterface>(
  options: LocalActivityOptions,
): SummarizedActivities<A> {
  const proxy = proxyLocalActivities<A>(options);
  return summarized<A>((name, summary, args) => {
    const activity = proxy[name] as LocalActivityFunctionWithOptions<A[keyof A & string]>;
    return activity.executeWithOptions({ ...options, summary }, args);
  });
}

function summarized<A extends ActivityInterface>(
  call: (
    name: keyof A & string,
    summary: string,
    args: Parameters<A[keyof A & string]>,
  ) => Promise<Awaited<ReturnType<A[keyof A & string]>>>,
): SummarizedActivities<A> {
  // Like the SDK's proxy, this one has no list of activities: any name read from it is an activity type.
  return new Proxy({} as SummarizedActivities<A>, {
    get(_, name) {
      if (typeof name !== 'string') return undefined;
      return (summary: string, ...args: Parameters<A[keyof A & string]>) => call(name, summary, args);
    },
  });
}
