/**
 * The workflow API as the code before the lean steps saw it: `patched('lean-steps')` is false, so payments run
 * every step as a regular activity and upsert each search attribute as it changes, and write no marker for it.
 * Everything else is the SDK's own. Never served by a production worker; the upgrade and message-race tests bundle
 * the workflows with this module in place of `@temporalio/workflow`.
 */
import { patched as sdkPatched } from '@temporalio/workflow/lib/index';

export * from '@temporalio/workflow/lib/index';

// The patch of workflows/payment.ts, by value: importing that module here would import this one again.
const LEAN_STEPS = 'lean-steps';

/** `patched`, except that the lean steps have not shipped yet. */
export function patched(patchId: string): boolean {
  return patchId === LEAN_STEPS ? false : sdkPatched(patchId);
}
