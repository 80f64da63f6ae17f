/** AML screening: the watchlist, name normalisation and matching, and the screener that applies the policy. */
export {
  DEFAULT_WATCHLIST_PATH,
  WATCHLIST_COLUMNS,
  WatchlistError,
  loadWatchlist,
  parseWatchlistCsv,
} from './watchlist';
export type { WatchlistEntry, WatchlistErrorCode } from './watchlist';
export { normalizeName } from './normalize';
export { nameSimilarity, wordSimilarity, wordsSimilarity } from './similarity';
export { AmlError, AmlScreener, DEFAULT_AML_RULES } from './screener';
export type { AmlRules, ScreeningInput, ScreeningResult } from './screener';
