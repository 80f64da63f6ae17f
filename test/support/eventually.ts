/** Waiting in tests for a condition, never for a length of time. */

/**
 * Polls `check` until it returns something other than undefined, and returns that; a throw counts as "not yet" and
 * is named in the timeout's message. The deadline only bounds a hung run: nothing asserts how long it took.
 */
export async function eventually<T>(
  what: string,
  check: () => Promise<T | undefined>,
  options: { timeoutMs?: number; everyMs?: number } = {},
): Promise<T> {
  const deadline = Date.now() + (options.timeoutMs ?? 90_000);
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((resolve) => setTimeout(resolve, options.everyMs ?? 250));
  }
  const reason =
    last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : JSON.stringify(last)})`;
  throw new Error(`timed out waiting for ${what}${reason}`);
}
