import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AmountFormatError, formatMoney, parseAmount } from '../../domain/money';

describe('parseAmount', () => {
  test('reads a decimal exactly by the currency exponent', () => {
    assert.deepEqual(parseAmount('12.34', 'EUR'), { amountMinor: 1234, currency: 'EUR' });
    assert.deepEqual(parseAmount('12.3', 'eur'), { amountMinor: 1230, currency: 'EUR' });
    assert.deepEqual(parseAmount('12', 'EUR'), { amountMinor: 1200, currency: 'EUR' });
    assert.deepEqual(parseAmount('0.01', 'USD'), { amountMinor: 1, currency: 'USD' });
    assert.deepEqual(parseAmount('1500', 'JPY'), { amountMinor: 1500, currency: 'JPY' });
    assert.deepEqual(parseAmount('1.234', 'KWD'), { amountMinor: 1234, currency: 'KWD' });
  });

  test('never goes through floating point', () => {
    // 0.1 + 0.2 style inputs: a float parse would give 1.1499999 * 100.
    assert.equal(parseAmount('1.15', 'EUR').amountMinor, 115);
    assert.equal(parseAmount('9007199254740.99', 'EUR').amountMinor, 900719925474099);
  });

  for (const [input, currency, why] of [
    ['12.345', 'EUR', /more than 2 decimals/],
    ['-1', 'EUR', /not a plain decimal/],
    ['0', 'EUR', /greater than zero/],
    ['0.00', 'EUR', /greater than zero/],
    ['1e3', 'EUR', /not a plain decimal/],
    ['abc', 'EUR', /not a plain decimal/],
    ['', 'EUR', /not a plain decimal/],
    ['1,50', 'EUR', /not a plain decimal/],
    ['.5', 'EUR', /not a plain decimal/],
    ['1.5', 'JPY', /no minor unit/],
    ['10', 'XXX', /unknown currency/],
    ['99999999999999999', 'EUR', /too large/],
  ] as const) {
    test(`refuses "${input}" ${currency}`, () => {
      assert.throws(
        () => parseAmount(input, currency),
        (err: unknown) => err instanceof AmountFormatError && why.test(err.message),
      );
    });
  }
});

describe('formatMoney', () => {
  test('writes minor units back as a decimal with the currency', () => {
    assert.equal(formatMoney(1234, 'EUR'), '12.34 EUR');
    assert.equal(formatMoney(5, 'EUR'), '0.05 EUR');
    assert.equal(formatMoney(-250, 'USD'), '-2.50 USD');
    assert.equal(formatMoney(1500, 'JPY'), '1500 JPY');
  });
});
