/**
 * The workflow API as the code before the domain events saw it: `patched('domain-events')` is false, so the
 * workflows take the branch of the revision that published nothing, and write no marker. Everything else is the
 * SDK's own. Never served by a production worker; the upgrade test bundles the workflows with this module in place
 * of `@temporalio/workflow` to run payments "on the old build".
 */
import { patched as sdkPatched } from '@temporalio/workflow/lib/index';

export * from '@temporalio/workflow/lib/index';

// The patch of workflows/domain-events.ts, by value: importing that module here would import this one again.
const DOMAIN_EVENTS = 'domain-events';

/** `patched`, except that the domain-events change has not shipped yet. */
export function patched(patchId: string): boolean {
  return patchId === DOMAIN_EVENTS ? false : sdkPatched(patchId);
}
