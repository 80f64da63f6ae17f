/**
 * Name normalisation for screening: two spellings of one name must reduce to the same set of words, whatever
 * their case, accents, punctuation or word order.
 */

/** Letters that Unicode decomposition leaves whole, spelled the way a Latin-alphabet list would write them. */
const LETTER_FOLDS: Readonly<Record<string, string>> = {
  ß: 'ss',
  æ: 'ae',
  œ: 'oe',
  ø: 'o',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ł: 'l',
  ı: 'i',
  ħ: 'h',
};

/** Titles and honorifics: they say nothing about who a person is. */
const HONORIFICS = [
  'mr',
  'mrs',
  'ms',
  'miss',
  'mx',
  'dr',
  'prof',
  'sir',
  'dame',
  'lord',
  'lady',
  'mme',
  'mlle',
  'herr',
  'frau',
  'sr',
  'sra',
  'srta',
];

/** Legal forms of companies, in their dotless spelling ("S.A." reads "sa"): the same firm is listed with or without them. */
const LEGAL_FORMS = [
  'ltd',
  'limited',
  'llc',
  'llp',
  'lp',
  'plc',
  'inc',
  'incorporated',
  'corp',
  'corporation',
  'co',
  'company',
  'gmbh',
  'ag',
  'kg',
  'sa',
  'sas',
  'sarl',
  'srl',
  'spa',
  'bv',
  'nv',
  'ab',
  'as',
  'asa',
  'oy',
  'oyj',
  'ou',
  'pte',
  'pty',
  'ltda',
  'kft',
  'jsc',
  'ao',
  'ooo',
  'fze',
  'fzco',
  'sro',
];

/** Connecting words a name is written with or without ("Smith & Sons", "Smith and Sons", "The Smith Group"). */
const CONNECTORS = ['the', 'and', 'und', 'et'];

// Name particles (de, da, van, von, al, bin, la...) are deliberately kept: they are part of a name, and dropping
// them would make distinct names collide; a particle that one spelling omits costs only a small part of the score.
const NOISE_WORDS: ReadonlySet<string> = new Set([...HONORIFICS, ...LEGAL_FORMS, ...CONNECTORS]);

/**
 * The words of a name, normalised for comparison: lower-case, accents removed, periods and apostrophes dropped
 * ("S.A." is "sa", "O'Brien" is "obrien"), other punctuation read as a space, honorifics, legal forms and
 * connecting words removed. A name made only of such words keeps them rather than becoming empty.
 */
export function normalizeName(name: string): string[] {
  const folded = name
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[ßæœøđðþłıħ]/g, (ch) => LETTER_FOLDS[ch] ?? ch)
    .replace(/[.'’`´]/g, '')
    .replace(/[^\p{L}\p{N}]+/gu, ' ')
    .trim();
  if (folded === '') return [];
  const words = folded.split(' ');
  const meaningful = words.filter((word) => !NOISE_WORDS.has(word));
  return meaningful.length > 0 ? meaningful : words;
}
