import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { tmpdir } from 'node:os';
import {
  AmlError,
  AmlScreener,
  DEFAULT_AML_RULES,
  DEFAULT_WATCHLIST_PATH,
  WatchlistError,
  loadWatchlist,
  nameSimilarity,
  normalizeName,
  parseWatchlistCsv,
} from '../../services/aml';
import { AML_DEMO_NAMES } from '../../local/demo-names';
import type { ScreeningInput, WatchlistEntry } from '../../services/aml';

const HEADER = 'id,name,aliases,type,country,program,listed_on';

/** A small, safe beneficiary: German, a few euros, so only the name can decide. */
function beneficiary(name: string, overrides: Partial<ScreeningInput> = {}): ScreeningInput {
  return { name, country: 'DE', amountMinor: 12_50, currency: 'EUR', ...overrides };
}

/** The WatchlistError `run` throws. */
function watchlistErrorOf(run: () => unknown): WatchlistError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof WatchlistError, `expected a WatchlistError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a WatchlistError, nothing was thrown');
}

describe('watchlist CSV', () => {
  test('reads quoted fields holding commas, doubled quotes and line breaks', () => {
    const csv = [
      HEADER,
      'T-1,"KESSLER, Ottokar",Otto Kessler;O. Kessler,individual,AT,SYN-FIN,2020-01-02',
      'T-2,"Compañía ""Faro"" S.A.","Faro, Compañía;Faro",entity,PA,SYN-ARMS,2019-12-31',
      'T-3,"Two-line',
      'Trading Ltd",,entity,GB,SYN-FIN,2021-06-30',
    ].join('\r\n');

    const entries = parseWatchlistCsv(csv, 'inline');

    assert.deepEqual(entries[0], {
      id: 'T-1',
      name: 'KESSLER, Ottokar',
      aliases: ['Otto Kessler', 'O. Kessler'],
      type: 'individual',
      country: 'AT',
      program: 'SYN-FIN',
      listedOn: '2020-01-02',
    });
    assert.equal(entries[1]?.name, 'Compañía "Faro" S.A.');
    assert.deepEqual(entries[1]?.aliases, ['Faro, Compañía', 'Faro']);
    assert.equal(entries[2]?.name, 'Two-line\r\nTrading Ltd');
    assert.deepEqual(entries[2]?.aliases, []);
  });

  test('names the line of a record with the wrong number of fields, counting lines inside quotes', () => {
    const csv = [
      HEADER,
      'T-1,"Two-line',
      'Name",,individual,FR,SYN-FIN,2020-01-02',
      'T-2,Short Row,,individual,FR',
    ].join('\n');

    const error = watchlistErrorOf(() => parseWatchlistCsv(csv, 'list.csv'));

    assert.equal(error.code, 'malformed');
    assert.equal(error.line, 4);
    assert.match(error.message, /^list\.csv line 4: expected 7 fields, found 5$/);
  });

  test('names the line and the column of an invalid value', () => {
    const cases: [string, RegExp][] = [
      ['T-1,Name,,person,FR,SYN-FIN,2020-01-02', /line 2: type:/],
      ['T-1,Name,,individual,France,SYN-FIN,2020-01-02', /line 2: country:/],
      ['T-1,Name,,individual,FR,SYN-FIN,2019-02-30', /line 2: listed_on:/],
      ['T-1,,,individual,FR,SYN-FIN,2020-01-02', /line 2: name:/],
    ];
    for (const [row, expected] of cases) {
      const error = watchlistErrorOf(() => parseWatchlistCsv(`${HEADER}\n${row}\n`, 'list.csv'));
      assert.equal(error.code, 'invalid_entry');
      assert.equal(error.line, 2);
      assert.match(error.message, expected);
    }
  });

  test('rejects broken quoting with the line it happens on', () => {
    const stray = watchlistErrorOf(() =>
      parseWatchlistCsv(`${HEADER}\nT-1,Na"me,,individual,FR,SYN-FIN,2020-01-02\n`),
    );
    assert.equal(stray.code, 'malformed');
    assert.equal(stray.line, 2);

    const afterClose = watchlistErrorOf(() =>
      parseWatchlistCsv(`${HEADER}\nT-1,"Name"x,,individual,FR,SYN-FIN,2020-01-02\n`),
    );
    assert.equal(afterClose.line, 2);

    const unclosed = watchlistErrorOf(() =>
      parseWatchlistCsv(`${HEADER}\nT-1,Fine,,individual,FR,SYN-FIN,2020-01-02\nT-2,"Open,,individual\n`),
    );
    assert.equal(unclosed.line, 3);
    assert.match(unclosed.message, /never closed/);
  });

  test('rejects a duplicate id, naming both lines', () => {
    const csv = [
      HEADER,
      'T-1,First,,individual,FR,SYN-FIN,2020-01-02',
      '',
      'T-1,Second,,individual,FR,SYN-FIN,2020-01-02',
    ].join('\n');

    const error = watchlistErrorOf(() => parseWatchlistCsv(csv, 'list.csv'));

    assert.equal(error.code, 'duplicate_id');
    assert.equal(error.line, 4);
    assert.match(error.message, /already used on line 2/);
  });

  test('rejects a wrong header and a list without entries', () => {
    assert.equal(watchlistErrorOf(() => parseWatchlistCsv('id,name\nT-1,x\n')).line, 1);
    assert.equal(watchlistErrorOf(() => parseWatchlistCsv(`${HEADER}\n`)).code, 'empty');
    assert.equal(watchlistErrorOf(() => parseWatchlistCsv('')).code, 'empty');
  });

  test('reports a file that cannot be read', async () => {
    const missing = path.join(tmpdir(), `baton-no-such-watchlist-${process.pid}.csv`);
    await assert.rejects(loadWatchlist(missing), (error: unknown) => {
      assert.ok(error instanceof WatchlistError);
      assert.equal(error.code, 'unreadable');
      assert.ok(error.message.includes(missing));
      return true;
    });
  });

  test('the shipped watchlist loads, with unique ids and a varied set of names', async () => {
    const entries = await loadWatchlist(DEFAULT_WATCHLIST_PATH);

    assert.ok(path.isAbsolute(DEFAULT_WATCHLIST_PATH));
    assert.ok(entries.length >= 60 && entries.length <= 120, `${entries.length} entries`);
    assert.equal(new Set(entries.map((e) => e.id)).size, entries.length);
    assert.ok(entries.some((e) => e.type === 'entity'));
    assert.ok(entries.some((e) => e.type === 'individual'));
    assert.ok(entries.some((e) => e.aliases.length > 0));
    assert.ok(
      entries.some((e) => e.name !== e.name.normalize('NFKD')),
      'has accented names',
    );
    assert.ok(
      entries.some((e) => e.name.includes(',')),
      'has names with commas',
    );
    assert.ok(
      entries.every((e) => e.program.startsWith('SYN-')),
      'programmes are synthetic',
    );
  });
});

describe('name normalisation and similarity', () => {
  test('ignores case, accents, punctuation and word order', () => {
    assert.deepEqual(normalizeName('GARCÍA, Lucía'), ['garcia', 'lucia']);
    assert.equal(nameSimilarity('GARCÍA, Lucía', 'lucia garcia'), 1);
    assert.equal(nameSimilarity("O'Brien-Castellanos, Desmond", 'desmond obrien castellanos'), 1);
    assert.equal(nameSimilarity('Guðrún Þórhallsdóttir', 'THORHALLSDOTTIR Gudrun'), 1);
    assert.deepEqual(normalizeName('Straße Ærø Łódź'), ['strasse', 'aero', 'lodz']);
  });

  test('drops honorifics, legal forms and connecting words but keeps name particles', () => {
    assert.deepEqual(normalizeName('Dr. Anselm Grüterich'), ['anselm', 'gruterich']);
    assert.deepEqual(normalizeName('Ravelin Holdings, Ltd.'), ['ravelin', 'holdings']);
    assert.deepEqual(normalizeName('The Blackthorn & Ivy Co. L.L.C.'), ['blackthorn', 'ivy']);
    assert.deepEqual(normalizeName('Marisol Achával de la Peña'), ['marisol', 'achaval', 'de', 'la', 'pena']);
    assert.deepEqual(normalizeName('Mr. Ltd.'), ['mr', 'ltd'], 'a name of noise words only is kept');
    assert.deepEqual(normalizeName(' -- '), []);
  });

  test('scores a small typo high but below an exact match', () => {
    const typo = nameSimilarity('Vesna Hribernic', 'Vesna Hribernik');
    assert.ok(typo > 0.85 && typo < 1, `typo scored ${typo}`);
    const swapped = nameSimilarity('Vesna Hriberink', 'Vesna Hribernik');
    assert.ok(swapped > 0.85 && swapped < 1, `swapped letters scored ${swapped}`);
  });

  test('scores different names low, even when they share a surname', () => {
    assert.ok(nameSimilarity('Johann Weber', 'Vesna Hribernik') < 0.5);
    assert.ok(nameSimilarity('Pedro Garcia', 'Lucia Garcia') < 0.82);
    assert.ok(nameSimilarity('Garcia', 'Lucia Garcia') < 0.82, 'a surname alone is not the name');
  });

  test('is symmetric and meets names split into a different number of words', () => {
    assert.equal(
      nameSimilarity('Lucia Maria Garcia', 'Lucia Garcia'),
      nameSimilarity('Lucia Garcia', 'Lucia Maria Garcia'),
    );
    assert.equal(nameSimilarity('Peregrine van Tongeren', 'Peregrine Vantongeren'), 1);
    assert.equal(nameSimilarity('', 'Lucia Garcia'), 0);
  });
});

describe('AmlScreener', () => {
  let screener: AmlScreener;
  let entries: WatchlistEntry[];

  before(async () => {
    entries = await loadWatchlist(DEFAULT_WATCHLIST_PATH);
    screener = await AmlScreener.fromFile();
  });

  test('screens against every entry of the shipped list', () => {
    assert.equal(screener.size, entries.length);
  });

  test('hits a listed name whatever its case, accents, order and punctuation', () => {
    for (const name of [
      'Lucía Fernández-Oyarzábal',
      'FERNANDEZ OYARZABAL, Lucia',
      'oyarzabal lucia fernandez',
    ]) {
      const result = screener.screen(beneficiary(name));
      assert.equal(result.decision, 'hit', name);
      assert.equal(result.score, 1);
      assert.equal(result.matchedEntry?.id, 'WL-0001');
    }
  });

  test('hits an alias and reports which listed spelling matched', () => {
    const result = screener.screen(beneficiary('Crane, Iggy'));

    assert.equal(result.decision, 'hit');
    assert.equal(result.matchedEntry?.id, 'WL-0044');
    assert.equal(result.matchedName, 'Iggy Crane');
    assert.match(result.reasons.join('\n'), /WL-0044 \(alias\)/);
  });

  test('sends a typo of a listed name to review', () => {
    const result = screener.screen(beneficiary('Octavia Renequin'));

    assert.equal(result.decision, 'review');
    assert.equal(result.matchedEntry?.id, 'WL-0053');
    assert.ok(
      result.score >= DEFAULT_AML_RULES.reviewThreshold && result.score < DEFAULT_AML_RULES.hitThreshold,
    );
  });

  test('clears a clean name with a low score and no matched entry', () => {
    const result = screener.screen(beneficiary('Johann Weber'));

    assert.equal(result.decision, 'clear');
    assert.ok(result.score < 0.6, `scored ${result.score}`);
    assert.equal(result.matchedEntry, undefined);
    assert.equal(result.matchedName, undefined);
    assert.match(result.reasons[0] ?? '', /below reviewThreshold/);
  });

  test('hits any name paid to a sanctioned country', () => {
    const result = screener.screen(beneficiary('Johann Weber', { country: 'kp' }));

    assert.equal(result.decision, 'hit');
    assert.deepEqual(result.reasons, [
      'sanctioned-country: beneficiary country KP is in sanctionedCountries',
    ]);
  });

  test('sends a payment to a high-risk country to review', () => {
    const result = screener.screen(beneficiary('Johann Weber', { country: 'MM' }));

    assert.equal(result.decision, 'review');
    assert.match(result.reasons.join('\n'), /high-risk-country/);
  });

  test('sends a large amount to review, from the currency threshold on', () => {
    const limit = DEFAULT_AML_RULES.reviewAmountMinor.EUR ?? 0;
    assert.equal(limit, 1_000_000);

    const atLimit = screener.screen(beneficiary('Johann Weber', { amountMinor: limit }));
    assert.equal(atLimit.decision, 'review');
    assert.match(
      atLimit.reasons.join('\n'),
      /amount-threshold: 1000000 EUR .* reviewAmountMinor\.EUR 1000000/,
    );

    assert.equal(screener.screen(beneficiary('Johann Weber', { amountMinor: limit - 1 })).decision, 'clear');
    const yen = screener.screen(beneficiary('Johann Weber', { amountMinor: 2_000_000, currency: 'JPY' }));
    assert.equal(yen.decision, 'review');
  });

  test('keeps the strongest decision and every reason that led to it', () => {
    const result = screener.screen(
      beneficiary('Octavia Renequin', { country: 'IR', amountMinor: 5_000_000, currency: 'USD' }),
    );

    assert.equal(result.decision, 'hit');
    assert.equal(result.reasons.length, 3);
    assert.match(result.reasons[0] ?? '', /^name-match: .*WL-0053/);
  });

  test('sends a name with nothing left to compare to review', () => {
    const result = screener.screen(beneficiary('--'));

    assert.equal(result.decision, 'review');
    assert.match(result.reasons.join('\n'), /unscreenable-name/);
  });

  test('applies overridden rules', () => {
    const strict = new AmlScreener(entries, {
      hitThreshold: 0.9,
      sanctionedCountries: ['DE'],
      reviewAmountMinor: { EUR: 100 },
    });

    assert.equal(strict.screen(beneficiary('Octavia Renequin', { country: 'FR' })).decision, 'hit');
    assert.equal(strict.screen(beneficiary('Johann Weber')).decision, 'hit');
    assert.equal(strict.screen(beneficiary('Johann Weber', { country: 'FR' })).decision, 'review');
    assert.equal(strict.rules.reviewThreshold, DEFAULT_AML_RULES.reviewThreshold);
    assert.equal(new AmlScreener(entries, { hitThreshold: undefined }).rules.hitThreshold, 0.95);
  });

  test('refuses rules and input that make no sense', () => {
    assert.throws(
      () => new AmlScreener(entries, { reviewThreshold: 0.97, hitThreshold: 0.9 }),
      (error: unknown) => error instanceof AmlError && error.code === 'invalid_rules',
    );
    assert.throws(
      () => new AmlScreener(entries, { highRiskCountries: ['Narnia'] }),
      (error: unknown) => error instanceof AmlError && error.code === 'invalid_rules',
    );
    assert.throws(
      () => screener.screen(beneficiary('Johann Weber', { country: 'Germany', amountMinor: 1.5 })),
      (error: unknown) =>
        error instanceof AmlError &&
        error.code === 'invalid_input' &&
        error.issues.length === 2 &&
        !error.message.includes('Weber'),
    );
  });

  test('never puts the screened name in its reasons', () => {
    const names = [
      AML_DEMO_NAMES.clear,
      AML_DEMO_NAMES.review,
      AML_DEMO_NAMES.hit,
      'Crane, Iggy',
      'Octavia Renequin',
      'Johann Weber',
    ];
    for (const name of names) {
      for (const input of [
        beneficiary(name),
        beneficiary(name, { country: 'IR', amountMinor: 9_000_000 }),
        beneficiary(name, { country: 'MM' }),
      ]) {
        const reasons = screener.screen(input).reasons.join('\n').toLowerCase();
        assert.ok(!reasons.includes(name.toLowerCase()), `reasons name "${name}"`);
        for (const word of normalizeName(name).filter((w) => w.length >= 4)) {
          assert.ok(!reasons.includes(word), `reasons contain "${word}" of "${name}"`);
        }
      }
    }
  });

  test('the demo names screen as clear, review and hit', () => {
    assert.equal(screener.screen(beneficiary(AML_DEMO_NAMES.clear)).decision, 'clear');
    assert.equal(screener.screen(beneficiary(AML_DEMO_NAMES.review)).decision, 'review');
    assert.equal(screener.screen(beneficiary(AML_DEMO_NAMES.hit)).decision, 'hit');
  });
});
