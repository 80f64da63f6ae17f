/**
 * Fuzzy similarity of two names, each given as its normalised words. Word order never matters; each word is
 * paired with its closest counterpart on the other side.
 */
import { normalizeName } from './normalize';

/**
 * Weight of "how much of both names matched" against "how much of the shorter name matched": above one half, so a
 * listed name buried in a longer one (an added surname) asks for review rather than scoring as the name itself.
 */
const BOTH_WEIGHT = 0.6;

/** Two words less similar than this are treated as unrelated, not as a weak match. */
const MIN_WORD_SIMILARITY = 0.5;

/** How well an initial ("J") stands for a word it begins ("Jana"): a likely match, never an exact one. */
const INITIAL_SIMILARITY = 0.75;

/**
 * Least weight a word carries, in letters: without it an initial or a short given name would weigh next to
 * nothing, and sharing a long surname alone would look like sharing the whole name.
 */
const MIN_WORD_WEIGHT = 4;

/** Scratch rows of {@link editDistance}, grown on demand. */
let rows = new Int32Array(256);

/**
 * Optimal-string-alignment edit distance: insertions, deletions, substitutions and swaps of two neighbours each
 * cost one.
 */
function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length === 0) return b.length;
  if (b.length === 0) return a.length;
  // Three rolling rows (two back, one back, current), reused across calls: screening runs this for every listed
  // name, so it must not allocate.
  const width = b.length + 1;
  if (rows.length < width * 3) rows = new Int32Array(width * 6);
  let beforePrevious = 0;
  let previous = width;
  let current = width * 2;
  for (let j = 0; j < width; j++) rows[previous + j] = j;
  for (let i = 1; i <= a.length; i++) {
    const ai = a.charCodeAt(i - 1);
    rows[current] = i;
    for (let j = 1; j < width; j++) {
      const bj = b.charCodeAt(j - 1);
      let best = Math.min(
        (rows[previous + j] ?? 0) + 1,
        (rows[current + j - 1] ?? 0) + 1,
        (rows[previous + j - 1] ?? 0) + (ai === bj ? 0 : 1),
      );
      if (i > 1 && j > 1 && ai === b.charCodeAt(j - 2) && a.charCodeAt(i - 2) === bj) {
        best = Math.min(best, (rows[beforePrevious + j - 2] ?? 0) + 1);
      }
      rows[current + j] = best;
    }
    [beforePrevious, previous, current] = [previous, current, beforePrevious];
  }
  return rows[previous + b.length] ?? 0;
}

/**
 * Similarity of two words in [0,1]: one minus the edit distance over the longer length.
 * Why this metric: an edit distance charges every typo the same wherever it falls, whereas Jaro-Winkler's prefix
 * bonus rates short names that merely start alike as near-identical.
 */
export function wordSimilarity(a: string, b: string): number {
  const longest = Math.max(a.length, b.length);
  return longest === 0 ? 1 : 1 - editDistance(a, b) / longest;
}

/** Weight of a word in a name: its length, but at least {@link MIN_WORD_WEIGHT}. */
function weight(word: string): number {
  return Math.max(word.length, MIN_WORD_WEIGHT);
}

/** Total weight of a name's words. */
function totalWeight(words: readonly string[]): number {
  return words.reduce((sum, word) => sum + weight(word), 0);
}

/** Similarity of two words of a name, where a one-letter word is an initial. */
function pairSimilarity(a: string, b: string): number {
  if (a.length === 1 || b.length === 1) {
    if (a === b) return 1;
    return a[0] === b[0] ? INITIAL_SIMILARITY : 0;
  }
  return wordSimilarity(a, b);
}

/** One name's side of a comparison: how many words, their total weight, and the weight matched. */
interface Side {
  words: number;
  weight: number;
  matched: number;
}

/**
 * Matched share of the name with fewer words (or, at equal counts, of less weight); undefined when that name is a
 * single word or the two are the same size, so that only the matched share of both names counts.
 */
function shorterCoverage(a: Side, b: Side): number | undefined {
  if (a.words === b.words && a.weight === b.weight) return undefined;
  const aIsShorter = a.words < b.words || (a.words === b.words && a.weight < b.weight);
  const shorter = aIsShorter ? a : b;
  return shorter.words < 2 ? undefined : shorter.matched / shorter.weight;
}

/**
 * Similarity in [0,1] of two names given as normalised words. Each word is paired greedily with its most similar
 * unpaired word on the other side (an initial pairs with a word it begins); the score blends two views of those
 * pairs, weighted by word length: how much of both names is matched (so extra or missing words cost), and how much
 * of the shorter name is matched (so an added middle name costs less than a different name). A name of one word is
 * judged on the first view alone, so a lone surname never counts as the full name. Names of different word counts
 * are also compared with their letters run together, so "Abdel Rahman" and "Abdelrahman" still meet.
 */
export function wordsSimilarity(left: readonly string[], right: readonly string[]): number {
  if (left.length === 0 || right.length === 0) return 0;

  const candidates: { l: number; r: number; similarity: number }[] = [];
  left.forEach((leftWord, l) => {
    right.forEach((rightWord, r) => {
      const similarity = pairSimilarity(leftWord, rightWord);
      if (similarity >= MIN_WORD_SIMILARITY) candidates.push({ l, r, similarity });
    });
  });
  candidates.sort((x, y) => y.similarity - x.similarity);

  const leftUsed = new Set<number>();
  const rightUsed = new Set<number>();
  let matchedLeft = 0;
  let matchedRight = 0;
  for (const { l, r, similarity } of candidates) {
    if (leftUsed.has(l) || rightUsed.has(r)) continue;
    leftUsed.add(l);
    rightUsed.add(r);
    matchedLeft += similarity * weight(left[l] ?? '');
    matchedRight += similarity * weight(right[r] ?? '');
  }

  const leftSide: Side = { words: left.length, weight: totalWeight(left), matched: matchedLeft };
  const rightSide: Side = { words: right.length, weight: totalWeight(right), matched: matchedRight };
  const both = (matchedLeft + matchedRight) / (leftSide.weight + rightSide.weight);
  const shorter = shorterCoverage(leftSide, rightSide);
  const byWords = BOTH_WEIGHT * both + (1 - BOTH_WEIGHT) * (shorter ?? both);

  // Only names split into a different number of words are compared run together: with equal counts the word view
  // already pairs every word, and the longer joined string would dilute a typo into a near-exact score.
  if (left.length === right.length) return byWords;
  const leftJoined = left.join('');
  const rightJoined = right.join('');
  // The length difference alone bounds the joined similarity; skip the comparison when it cannot win.
  const longest = Math.max(leftJoined.length, rightJoined.length);
  if (1 - Math.abs(leftJoined.length - rightJoined.length) / longest <= byWords) return byWords;
  return Math.max(byWords, wordSimilarity(leftJoined, rightJoined));
}

/** Similarity in [0,1] of two names as written: case, accents, punctuation and word order do not matter. */
export function nameSimilarity(a: string, b: string): number {
  return wordsSimilarity(normalizeName(a), normalizeName(b));
}
