/**
 * The correlation id: chosen by whoever starts a business process (a CLI user, another domain's command event) and
 * carried by every run, activity, ledger transfer, bank call, email, domain event and log line of that process, so
 * its parts can be found together (`list --correlation <id>`). It is an id, never personal data.
 */

/** What a correlation id may look like: printable, no spaces, short enough for a search attribute and a header. */
export const CORRELATION_ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

/** The activity header the workflows set and the activities read it from. */
export const CORRELATION_HEADER = 'baton-correlation-id';

/** The header that carries the correlation id outside Temporal: on bank calls and webhooks, and on every email. */
export const CORRELATION_ID_HTTP_HEADER = 'X-Correlation-ID';

/** The problem with `value` as a correlation id, or undefined when it is one. */
export function correlationIdProblem(value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string';
  if (!CORRELATION_ID_PATTERN.test(value)) {
    return 'must be 1 to 128 characters of letters, digits, ".", "_", ":" and "-"';
  }
  return undefined;
}
