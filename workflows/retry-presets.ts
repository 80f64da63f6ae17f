/** Named retry policies for activities; each says in one line why it is shaped that way. */
import type { RetryPolicy } from '@temporalio/common';

/** For steps that must eventually happen (ledger, bank submission): back off up to a minute, never give up. */
export const retryForever: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '1 minute',
};

/** For questions whose answer the workflow can do without for now: three quick tries, then the caller decides. */
export const retryThenAsk: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '10 seconds',
  maximumAttempts: 3,
};

/** For messages to a customer: keep trying for a few minutes, then record the message as undeliverable. */
export const retryForAWhile: RetryPolicy = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '30 seconds',
  maximumAttempts: 10,
};
