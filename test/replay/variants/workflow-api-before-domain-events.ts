/**
 * The workflow API as the code before the domain events saw it: `patched('domain-events')` is false, so the
 * workflows take the branch of the revision that published nothing, and write no marker; so is every patch that
 * came later (the lean steps, which publish without asking). Everything else is the SDK's own. Never served by a production worker; the upgrade test bundles the workflows with this module in place
 * of `@temporalio/workflow` to run payments "on the old build".
 */
import { patched as sdkPatched } from '@temporalio/workflow/lib/index';

export * from '@temporalio/workflow/lib/index';

// The patches of workflows/domain-events.ts and workflows/payment.ts, by value: importing those modules here would
// import this one again.
const NOT_YET_SHIPPED = ['domain-events', 'lean-steps'];

/** `patched`, except that the domain-events change and those after it have not shipped yet. */
export function patched(patchId: string): boolean {
  return NOT_YET_SHIPPED.includes(patchId) ? false : sdkPatched(patchId);
}
