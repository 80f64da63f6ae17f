/**
 * The input checks both contracts share, and the promise the workflows rely on: whatever a caller sends, checking
 * it returns problems in words and never throws (a throw inside a workflow would fail its task over and over).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { hasControlCharacters, quoted, unknownFieldProblems } from '../../domain/input-checks';
import { paymentRequestProblems } from '../../workflows/payment-checks';
import { registrationRequestProblems } from '../../workflows/registration-checks';

const valid = {
  paymentId: 'p-1',
  fromAccountId: 'A-1001-EUR',
  amountMinor: 1234,
  currency: 'EUR',
  beneficiary: { name: 'Zoë Müller-Łukasiewicz', country: 'DE', iban: 'DE89370400440532013000' },
};

describe('control characters', () => {
  test('finds C0, DEL, C1, line separators, bidi controls and half surrogate pairs', () => {
    for (const text of [
      'a\u0000b',
      'a\tb',
      'a\u007fb',
      'a\u0085b',
      'a\u2028b',
      'a\u202eb',
      'a\u2066b',
      'a\ud83d',
      '\ude00a',
    ]) {
      assert.equal(hasControlCharacters(text), true, JSON.stringify(text));
    }
  });

  test('lets names in any script, accents, apostrophes and emoji through', () => {
    for (const text of ["O'Brien-Łukasiewicz", 'Zoë', '山田 太郎', 'محمد', 'Ana 😀', 'Ng\u0303']) {
      assert.equal(hasControlCharacters(text), false, text);
    }
  });
});

describe('quoting values in messages', () => {
  test('escapes controls, cuts long text and never converts an object', () => {
    assert.equal(quoted('a\nb'), '"a\\nb"');
    assert.equal(quoted('x'.repeat(100)), `"${'x'.repeat(40)}…"`);
    assert.equal(quoted({ toString: 1, valueOf: 1 }), 'an object');
    assert.equal(quoted([1]), 'an array');
    assert.equal(quoted(12.5), '12.5');
  });

  test('names unknown fields, a few at most', () => {
    assert.deepEqual(unknownFieldProblems({ a: 1, b: 2 }, ['a']), ['unknown field "b"']);
    const many = Object.fromEntries(Array.from({ length: 9 }, (_, i) => [`f${i}`, i]));
    assert.deepEqual(unknownFieldProblems(many, []), [
      'unknown fields "f0", "f1", "f2", "f3", "f4" and 4 more',
    ]);
  });
});

describe('request problems', () => {
  test('find nothing wrong with a valid payment', () => {
    assert.deepEqual(paymentRequestProblems(valid), []);
  });

  test('never throw, whatever JSON a caller sends, and name a field when they refuse', () => {
    const fieldOrWhole =
      /paymentId|fromAccountId|amountMinor|currency|beneficiary|timings|unknown field|request/;
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        for (const problems of [paymentRequestProblems(value), registrationRequestProblems(value)]) {
          assert.ok(Array.isArray(problems));
          for (const problem of problems) assert.equal(typeof problem, 'string');
        }
        for (const problem of paymentRequestProblems(value)) assert.match(problem, fieldOrWhole);
      }),
    );
  });

  test('never throw when any field of a valid payment is replaced by anything', () => {
    const fields = ['paymentId', 'fromAccountId', 'amountMinor', 'currency', 'beneficiary', 'timings'];
    fc.assert(
      fc.property(
        fc.constantFrom(...fields),
        fc.oneof(fc.jsonValue(), fc.constant({ toString: 1, valueOf: 1 })),
        (field, value) => {
          const problems = paymentRequestProblems({ ...valid, [field]: value });
          assert.ok(problems.every((problem) => typeof problem === 'string'));
        },
      ),
    );
  });
});
