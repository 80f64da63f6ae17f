/**
 * AML screening of a payment's beneficiary: fuzzy name matching against the watchlist, then country and amount
 * rules. Plain TypeScript; the payment activity is its only caller.
 */
import { z } from 'zod';
import type { AmlDecision } from '../../domain/payment-terms';
import { normalizeName } from './normalize';
import { wordsSimilarity } from './similarity';
import { DEFAULT_WATCHLIST_PATH, loadWatchlist } from './watchlist';
import type { WatchlistEntry } from './watchlist';

/** Who is screened, and for how much. */
export interface ScreeningInput {
  name: string;
  /** ISO 3166-1 alpha-2 country code of the beneficiary. */
  country: string;
  amountMinor: number;
  currency: string;
}

/**
 * The decision and why. `reasons` name rules and watchlist entry ids, never the screened name, so they can be
 * logged and stored.
 */
export interface ScreeningResult {
  decision: AmlDecision;
  /** Best name score against the watchlist, in [0,1], rounded to three decimals. */
  score: number;
  /** The entry the name matched, when the name rule decided review or hit. */
  matchedEntry?: WatchlistEntry;
  /** The entry's name or alias that matched (list data, not the screened name). */
  matchedName?: string;
  reasons: string[];
}

/** The screening policy. */
export interface AmlRules {
  /** A name score at or above this is a hit. */
  hitThreshold: number;
  /** A name score at or above this (and below the hit threshold) needs review. */
  reviewThreshold: number;
  /** Beneficiary countries (ISO alpha-2) that are a hit whatever the name. */
  sanctionedCountries: string[];
  /** Beneficiary countries (ISO alpha-2) that always need review. */
  highRiskCountries: string[];
  /** Per currency, the amount in minor units from which a payment needs review. Other currencies have no limit. */
  reviewAmountMinor: Record<string, number>;
}

/**
 * An example policy, not legal advice: every value is meant to be set per deployment. The countries are real ISO
 * codes chosen for illustration; the amounts sit near 10 000 EUR in each currency baton accepts.
 */
export const DEFAULT_AML_RULES: AmlRules = {
  hitThreshold: 0.95,
  reviewThreshold: 0.82,
  sanctionedCountries: ['KP', 'IR'],
  highRiskCountries: ['MM', 'AF', 'SY', 'YE', 'SS'],
  reviewAmountMinor: {
    EUR: 1_000_000,
    USD: 1_000_000,
    GBP: 1_000_000,
    CHF: 1_000_000,
    SEK: 10_000_000,
    DKK: 7_500_000,
    NOK: 10_000_000,
    PLN: 4_000_000,
    JPY: 1_500_000,
    KWD: 3_000_000,
  },
};

/** Why screening refused to run: the rules or the input are not valid. */
export class AmlError extends Error {
  override readonly name = 'AmlError';
  constructor(
    readonly code: 'invalid_rules' | 'invalid_input',
    /** Each problem as "field: message"; never the values themselves. */
    readonly issues: string[],
  ) {
    super(`${code === 'invalid_rules' ? 'AML rules' : 'screening input'} invalid: ${issues.join('; ')}`);
  }
}

const countryCode = z
  .string()
  .regex(/^[A-Za-z]{2}$/, 'must be a two-letter ISO 3166 code')
  .transform((code) => code.toUpperCase());
const currencyCode = z
  .string()
  .regex(/^[A-Za-z]{3}$/, 'must be a three-letter ISO 4217 code')
  .transform((code) => code.toUpperCase());
const score = z.number().min(0).max(1);

const rulesSchema = z
  .object({
    hitThreshold: score,
    reviewThreshold: score,
    sanctionedCountries: z.array(countryCode),
    highRiskCountries: z.array(countryCode),
    reviewAmountMinor: z.record(currencyCode, z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)),
  })
  .refine((rules) => rules.reviewThreshold <= rules.hitThreshold, {
    message: 'must not exceed hitThreshold',
    path: ['reviewThreshold'],
  });

const inputSchema = z.object({
  name: z.string().min(1, 'must not be empty').max(1000, 'is too long'),
  country: countryCode,
  amountMinor: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  currency: currencyCode,
});

/** Each zod issue as "field: message". */
function issuesOf(error: z.ZodError): string[] {
  return error.issues.map((issue) => `${issue.path.map(String).join('.') || 'value'}: ${issue.message}`);
}

/** One name (primary or alias) of an entry, with its words computed once. */
interface IndexedName {
  entry: WatchlistEntry;
  name: string;
  isAlias: boolean;
  words: string[];
}

const SEVERITY: Record<AmlDecision, number> = { clear: 0, review: 1, hit: 2 };

/** Rounds a score to three decimals, the precision thresholds are compared and reported at. */
function roundScore(value: number): number {
  return Math.round(value * 1000) / 1000;
}

/** Screens names, countries and amounts against a watchlist and a policy. */
export class AmlScreener {
  /** Number of watchlist entries screened against. */
  readonly size: number;
  /** The policy in force: the defaults with the overrides given. */
  readonly rules: AmlRules;
  private readonly names: IndexedName[];

  constructor(entries: WatchlistEntry[], rules: Partial<AmlRules> = {}) {
    // An override left undefined (an unset setting) keeps the default rather than erasing it.
    const overrides = Object.fromEntries(Object.entries(rules).filter(([, value]) => value !== undefined));
    const parsed = rulesSchema.safeParse({ ...DEFAULT_AML_RULES, ...overrides });
    if (!parsed.success) throw new AmlError('invalid_rules', issuesOf(parsed.error));
    this.rules = parsed.data;
    this.size = entries.length;
    this.names = entries.flatMap((entry) =>
      [entry.name, ...entry.aliases].map((name, i) => ({
        entry,
        name,
        isAlias: i > 0,
        words: normalizeName(name),
      })),
    );
  }

  /** A screener over the watchlist file at `path` (the shipped synthetic list by default). */
  static async fromFile(
    path: string = DEFAULT_WATCHLIST_PATH,
    rules?: Partial<AmlRules>,
  ): Promise<AmlScreener> {
    return new AmlScreener(await loadWatchlist(path), rules);
  }

  /** Screens one beneficiary; throws {@link AmlError} when the input is malformed. */
  screen(input: ScreeningInput): ScreeningResult {
    const parsed = inputSchema.safeParse(input);
    if (!parsed.success) throw new AmlError('invalid_input', issuesOf(parsed.error));
    const { name, country, amountMinor, currency } = parsed.data;
    const { hitThreshold, reviewThreshold } = this.rules;

    const words = normalizeName(name);
    let best: IndexedName | undefined;
    let bestScore = 0;
    for (const candidate of this.names) {
      const candidateScore = wordsSimilarity(words, candidate.words);
      if (candidateScore > bestScore) {
        best = candidate;
        bestScore = candidateScore;
      }
    }
    const score = roundScore(bestScore);

    let decision: AmlDecision = 'clear';
    const reasons: string[] = [];
    const raise = (to: AmlDecision, reason: string): void => {
      if (SEVERITY[to] > SEVERITY[decision]) decision = to;
      reasons.push(reason);
    };

    let matched: IndexedName | undefined;
    if (words.length === 0) {
      raise(
        'review',
        'unscreenable-name: no letters or digits are left to compare once the name is normalised',
      );
    } else if (best !== undefined && score >= reviewThreshold) {
      matched = best;
      const what = `watchlist entry ${best.entry.id} (${best.isAlias ? 'alias' : 'primary name'}) scored ${score}`;
      if (score >= hitThreshold) raise('hit', `name-match: ${what} >= hitThreshold ${hitThreshold}`);
      else raise('review', `name-match: ${what} >= reviewThreshold ${reviewThreshold}`);
    }
    if (this.rules.sanctionedCountries.includes(country)) {
      raise('hit', `sanctioned-country: beneficiary country ${country} is in sanctionedCountries`);
    }
    if (this.rules.highRiskCountries.includes(country)) {
      raise('review', `high-risk-country: beneficiary country ${country} is in highRiskCountries`);
    }
    const amountLimit = this.rules.reviewAmountMinor[currency];
    if (amountLimit !== undefined && amountMinor >= amountLimit) {
      raise(
        'review',
        `amount-threshold: ${amountMinor} ${currency} minor units >= reviewAmountMinor.${currency} ${amountLimit}`,
      );
    }
    if (reasons.length === 0) {
      reasons.push(
        `clear: best name score ${score} is below reviewThreshold ${reviewThreshold}; ` +
          `no country or amount rule applies`,
      );
    }

    const result: ScreeningResult = { decision, score, reasons };
    if (matched !== undefined) {
      result.matchedEntry = matched.entry;
      result.matchedName = matched.name;
    }
    return result;
  }
}
