/** Looking for a secret's trace in stored bytes: as UTF-8, or inside base64 at any byte alignment. */
import assert from 'node:assert/strict';

/**
 * The base64 characters that `text` always produces, whatever its byte offset in a larger base64 string: one
 * fragment per alignment, each holding only characters made of the text's own bits.
 */
export function base64Fragments(text: string): string[] {
  const bytes = Buffer.from(text, 'utf8');
  return [0, 1, 2].map((shift) =>
    Buffer.concat([Buffer.alloc(shift), bytes])
      .toString('base64')
      .slice(Math.ceil((8 * shift) / 6), Math.floor((8 * (shift + bytes.length)) / 6)),
  );
}

/** Asserts that `haystack` holds `text` neither as UTF-8 bytes nor as base64 at any alignment. */
export function assertNoTrace(haystack: Buffer | string, text: string): void {
  const bytes = Buffer.isBuffer(haystack) ? haystack : Buffer.from(haystack, 'utf8');
  assert.equal(bytes.includes(Buffer.from(text, 'utf8')), false, `"${text}" appears as UTF-8`);
  const asText = bytes.toString('latin1');
  for (const fragment of base64Fragments(text)) {
    assert.equal(asText.includes(fragment), false, `"${text}" appears as base64 (${fragment})`);
  }
}
