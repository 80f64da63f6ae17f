/**
 * Activities with a one-line summary per call: the Temporal UI shows it on the step in the run's timeline, so a
 * reader sees "debit 12.34 EUR from A-1001-EUR" instead of a bare activity name. Summaries carry ids and amounts
 * only, never personal data.
 */
import type { ActivityInterface, ActivityOptions } from '@temporalio/common';
import { proxyActivities } from '@temporalio/workflow';
import type { ActivityFunctionWithOptions } from '@temporalio/workflow';

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
  // Like the SDK's proxy, this one has no list of activities: any name read from it is an activity type.
  return new Proxy({} as SummarizedActivities<A>, {
    get(_, name) {
      if (typeof name !== 'string') return undefined;
      const activity = proxy[name] as ActivityFunctionWithOptions<A[keyof A & string]>;
      return (summary: string, ...args: Parameters<typeof activity>) =>
        activity.executeWithOptions({ ...options, summary }, args);
    },
  });
}
