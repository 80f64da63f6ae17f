/**
 * Shape checks both contracts apply to what a caller sent: plain objects, no fields nobody defined, no control
 * characters in text a person or another system will read, and values quoted safely in messages. Pure and
 * deterministic: the client and the workflows run the same code.
 */

/** A plain JSON object (not null, not an array). */
export type JsonRecord = Record<string, unknown>;

/** True when `value` is a plain object, as a JSON payload decodes it. */
export function isRecord(value: unknown): value is JsonRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * True when `text` holds a character with no place in a name, an id or an address: C0 and C1 controls, DEL, line
 * and paragraph separators, bidirectional overrides (which make text display other than it reads), or half of a
 * surrogate pair (which no encoding can store).
 */
export function hasControlCharacters(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c === 0x2028 || c === 0x2029) return true;
    if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) return true;
    if (c >= 0xd800 && c <= 0xdbff) {
      const next = text.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return true;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) {
      return true;
    }
  }
  return false;
}

const QUOTED_LENGTH = 40;

/**
 * A value as a message may repeat it: text JSON-quoted (so controls show as escapes) and cut to a readable length,
 * numbers and the like as they are, objects by their kind only (converting them to text could throw).
 */
export function quoted(value: unknown): string {
  if (typeof value === 'string') {
    return JSON.stringify(value.length > QUOTED_LENGTH ? `${value.slice(0, QUOTED_LENGTH)}…` : value);
  }
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object' && value !== null) return 'an object';
  return String(value);
}

const MAX_UNKNOWN_FIELDS_NAMED = 5;

/** One problem naming the fields of `record` outside `allowed` (`prefix` places nested ones), or none. */
export function unknownFieldProblems(record: JsonRecord, allowed: readonly string[], prefix = ''): string[] {
  const unknown = Object.keys(record).filter((key) => !allowed.includes(key));
  if (unknown.length === 0) return [];
  const named = unknown.slice(0, MAX_UNKNOWN_FIELDS_NAMED).map((key) => quoted(`${prefix}${key}`));
  const more = unknown.length > named.length ? ` and ${unknown.length - named.length} more` : '';
  return [`unknown field${unknown.length > 1 ? 's' : ''} ${named.join(', ')}${more}`];
}

/** A problem when `value` is present but not a string; `field` names it. */
export function stringTypeProblems(value: unknown, field: string, optional = false): string[] {
  if (value === undefined && optional) return [];
  return typeof value === 'string' ? [] : [`${field} must be a string`];
}

/** A problem when the string `value` holds control characters; `field` names it. */
export function controlCharacterProblems(value: unknown, field: string): string[] {
  return typeof value === 'string' && hasControlCharacters(value)
    ? [`${field} must not contain control characters`]
    : [];
}

/** A check of a request's fields: every problem it finds, in words, each naming its field. */
export type RequestCheck = (input: JsonRecord) => string[];

/**
 * A process's rules made safe to run on anything. The rules keep their first revision's expressions, so that every
 * input decides on replay as it first did, and those may throw on a value that cannot even be read as text; then the
 * shape checks name the field, or `unreadable` says so.
 */
export function rulesThatNeverThrow(
  rules: RequestCheck,
  shape: RequestCheck,
  unreadable: string,
): RequestCheck {
  return (input) => {
    try {
      return rules(input);
    } catch {
      const problems = shape(input);
      return problems.length > 0 ? problems : [unreadable];
    }
  };
}

/** Every problem of a request, rules and shape together, each once; `notAnObject` when it is not even an object. */
export function requestProblems(
  request: unknown,
  notAnObject: string,
  rules: RequestCheck,
  shape: RequestCheck,
): string[] {
  if (!isRecord(request)) return [notAnObject];
  return [...new Set([...rules(request), ...shape(request)])];
}
