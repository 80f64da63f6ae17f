/**
 * Money as an integer count of minor units plus an ISO-4217 currency code. Pure and deterministic, so both the
 * client (parsing what a person typed) and the workflow (validating what it was given) use it.
 */

import { quoted } from './input-checks';

/** Minor-unit exponents of the currencies baton accepts (ISO 4217). */
export const CURRENCY_EXPONENTS = {
  EUR: 2,
  USD: 2,
  GBP: 2,
  CHF: 2,
  SEK: 2,
  DKK: 2,
  NOK: 2,
  PLN: 2,
  JPY: 0,
  KWD: 3,
} as const;

/** A currency code baton knows. */
export type Currency = keyof typeof CURRENCY_EXPONENTS;

/** True when `code` is a currency baton knows. */
export function isCurrency(code: string): code is Currency {
  return Object.prototype.hasOwnProperty.call(CURRENCY_EXPONENTS, code);
}

/** An amount: a positive safe integer of minor units in one currency. */
export interface Money {
  readonly amountMinor: number;
  readonly currency: Currency;
}

/** Why a typed amount was refused; the message says it in words a person understands. */
export class AmountFormatError extends Error {
  override readonly name = 'AmountFormatError';
  constructor(
    message: string,
    readonly input: string,
  ) {
    super(message);
  }
}

/**
 * Parses a decimal string exactly by the currency's exponent: "12.34" EUR is 1234. Refuses anything that is not a
 * plain positive decimal with at most as many fraction digits as the currency has ("12.345" EUR, "-1", "0",
 * "1e3", "abc").
 */
export function parseAmount(input: string, currencyCode: string): Money {
  const currency = currencyCode.trim().toUpperCase();
  if (!isCurrency(currency)) {
    throw new AmountFormatError(
      `unknown currency ${quoted(currencyCode)}; use one of ${Object.keys(CURRENCY_EXPONENTS).join(', ')}`,
      currencyCode,
    );
  }
  const exponent = CURRENCY_EXPONENTS[currency];
  const match = /^(\d+)(?:\.(\d+))?$/.exec(input.trim());
  if (!match) {
    throw new AmountFormatError(`amount ${quoted(input)} is not a plain decimal number such as 12.34`, input);
  }
  const whole = match[1] ?? '';
  const fraction = match[2] ?? '';
  if (fraction.length > exponent) {
    throw new AmountFormatError(
      exponent === 0
        ? `amount ${quoted(input)} has decimals, but ${currency} has no minor unit`
        : `amount ${quoted(input)} has more than ${exponent} decimals for ${currency}`,
      input,
    );
  }
  const minor = BigInt(whole + fraction.padEnd(exponent, '0'));
  if (minor <= 0n) throw new AmountFormatError(`amount ${quoted(input)} must be greater than zero`, input);
  if (minor > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new AmountFormatError(`amount ${quoted(input)} is too large`, input);
  }
  return { amountMinor: Number(minor), currency };
}

/** Formats minor units back to a decimal string: 1234 EUR is "12.34 EUR". */
export function formatMoney(amountMinor: number, currency: string): string {
  const exponent = isCurrency(currency) ? CURRENCY_EXPONENTS[currency] : 2;
  const sign = amountMinor < 0 ? '-' : '';
  const digits = String(Math.abs(amountMinor)).padStart(exponent + 1, '0');
  const whole = digits.slice(0, digits.length - exponent);
  const fraction = exponent > 0 ? '.' + digits.slice(digits.length - exponent) : '';
  return `${sign}${whole}${fraction} ${currency}`;
}
