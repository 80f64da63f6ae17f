/**
 * Beneficiary names the demo pays, one per screening decision against the shipped synthetic watchlist. Each is
 * meant for country DE and a small amount, so the name alone decides.
 */

/** Names that screen `clear`, `review` and `hit` against the shipped watchlist. */
export const AML_DEMO_NAMES = {
  /** Invented, and close to no listed name. */
  clear: 'Hannelore Quistgaard',
  /** Two typos away from entry WL-0062 ("Hamish Drummond-Kilbride"): a possible match. */
  review: 'Hamish Drumond-Kilbryde',
  /** Entry WL-0001 ("Lucía Fernández-Oyarzábal") reordered, upper-cased and without accents. */
  hit: 'FERNANDEZ OYARZABAL, Lucia',
} as const satisfies { clear: string; review: string; hit: string };
