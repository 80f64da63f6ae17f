/**
 * The watchlist: a CSV file with the columns of a public sanctions list, read and checked line by line. The shipped
 * file holds invented entries only; a real list in the same format replaces it through configuration.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

/** One listed person or organisation. */
export interface WatchlistEntry {
  id: string;
  name: string;
  aliases: string[];
  type: 'individual' | 'entity';
  /** ISO 3166-1 alpha-2 country code. */
  country: string;
  /** Sanctions programme code the entry is listed under. */
  program: string;
  /** ISO date (YYYY-MM-DD) the entry was listed. */
  listedOn: string;
}

/** Absolute path of the synthetic watchlist shipped with baton. */
export const DEFAULT_WATCHLIST_PATH: string = path.join(__dirname, 'watchlist.csv');

/** Header every watchlist file starts with, in this order. */
export const WATCHLIST_COLUMNS = [
  'id',
  'name',
  'aliases',
  'type',
  'country',
  'program',
  'listed_on',
] as const;

/** What is wrong with a watchlist. */
export type WatchlistErrorCode = 'unreadable' | 'malformed' | 'invalid_entry' | 'duplicate_id' | 'empty';

/** A watchlist that cannot be used; the message names the file and, where one is at fault, the line. */
export class WatchlistError extends Error {
  override readonly name = 'WatchlistError';
  constructor(
    readonly code: WatchlistErrorCode,
    message: string,
    readonly source: string,
    /** 1-based line of the file where the faulty record starts. */
    readonly line?: number,
    options?: { cause?: unknown },
  ) {
    super(line === undefined ? `${source}: ${message}` : `${source} line ${line}: ${message}`, options);
  }
}

/** One CSV record and the line it starts on. */
interface CsvRecord {
  line: number;
  fields: string[];
}

/**
 * Splits RFC 4180 CSV text into records: fields separated by commas, records by LF or CRLF, fields in double quotes
 * may hold commas, line breaks and doubled quotes. Blank lines are skipped.
 */
function parseCsv(text: string, source: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = '';
  let line = 1;
  let recordLine = 1;
  let i = 0;
  // State of the field being read: not yet started, unquoted, inside quotes, or just after its closing quote.
  let state: 'start' | 'plain' | 'quoted' | 'closed' = 'start';

  const endRecord = (): void => {
    fields.push(field);
    const blank = fields.length === 1 && fields[0] === '' && state === 'start';
    if (!blank) records.push({ line: recordLine, fields });
    fields = [];
    field = '';
    state = 'start';
  };

  while (i < text.length) {
    const ch = text[i];
    if (state === 'quoted') {
      if (ch === '"') {
        if (text[i + 1] === '"') {
          field += '"';
          i += 2;
          continue;
        }
        state = 'closed';
      } else {
        if (ch === '\n') line++;
        field += ch;
      }
      i++;
      continue;
    }
    if (ch === ',') {
      fields.push(field);
      field = '';
      state = 'start';
    } else if (ch === '\n' || (ch === '\r' && text[i + 1] === '\n')) {
      endRecord();
      if (ch === '\r') i++;
      line++;
      recordLine = line;
    } else if (ch === '"') {
      if (state !== 'start') {
        throw new WatchlistError(
          'malformed',
          'a double quote may only open a field or be doubled inside a quoted field',
          source,
          line,
        );
      }
      state = 'quoted';
    } else if (state === 'closed') {
      throw new WatchlistError(
        'malformed',
        'unexpected text after the closing quote of a field',
        source,
        line,
      );
    } else {
      field += ch;
      state = 'plain';
    }
    i++;
  }
  if (state === 'quoted') {
    throw new WatchlistError('malformed', 'a quoted field is never closed', source, recordLine);
  }
  if (fields.length > 0 || field !== '' || state !== 'start') endRecord();
  return records;
}

const rowSchema = z.object({
  id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'must be 1-64 letters, digits, "-", "_" or "."'),
  name: z.string().min(1, 'must not be empty'),
  aliases: z.string(),
  type: z.enum(['individual', 'entity']),
  country: z.string().regex(/^[A-Z]{2}$/, 'must be a two-letter upper-case ISO 3166 code'),
  program: z.string().min(1, 'must not be empty'),
  listed_on: z.iso.date('must be a real calendar date as YYYY-MM-DD'),
});

/** The first problem zod found, as "column: message". */
function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (issue === undefined) return 'invalid entry';
  const column = issue.path.map(String).join('.');
  return column === '' ? issue.message : `${column}: ${issue.message}`;
}

/**
 * Parses watchlist CSV text (header `id,name,aliases,type,country,program,listed_on`, aliases separated by `;`).
 * Throws a {@link WatchlistError} naming `source` and the line of the first faulty record.
 */
export function parseWatchlistCsv(text: string, source = 'watchlist'): WatchlistEntry[] {
  const records = parseCsv(text.replace(/^\uFEFF/, ''), source);
  const [header, ...rows] = records;
  if (header === undefined)
    throw new WatchlistError('empty', 'the file holds no header and no entries', source);
  const headerText = header.fields.map((f) => f.trim()).join(',');
  if (headerText !== WATCHLIST_COLUMNS.join(',')) {
    throw new WatchlistError(
      'malformed',
      `header must be "${WATCHLIST_COLUMNS.join(',')}", found "${headerText}"`,
      source,
      header.line,
    );
  }

  const entries: WatchlistEntry[] = [];
  const seen = new Map<string, number>();
  for (const { line, fields } of rows) {
    if (fields.length !== WATCHLIST_COLUMNS.length) {
      throw new WatchlistError(
        'malformed',
        `expected ${WATCHLIST_COLUMNS.length} fields, found ${fields.length}`,
        source,
        line,
      );
    }
    const raw = Object.fromEntries(WATCHLIST_COLUMNS.map((column, i) => [column, (fields[i] ?? '').trim()]));
    const parsed = rowSchema.safeParse(raw);
    if (!parsed.success) {
      throw new WatchlistError('invalid_entry', describeIssue(parsed.error), source, line, {
        cause: parsed.error,
      });
    }
    const row = parsed.data;
    const firstLine = seen.get(row.id);
    if (firstLine !== undefined) {
      throw new WatchlistError(
        'duplicate_id',
        `id ${row.id} is already used on line ${firstLine}`,
        source,
        line,
      );
    }
    seen.set(row.id, line);
    entries.push({
      id: row.id,
      name: row.name,
      aliases: row.aliases
        .split(';')
        .map((alias) => alias.trim())
        .filter((alias) => alias !== ''),
      type: row.type,
      country: row.country,
      program: row.program,
      listedOn: row.listed_on,
    });
  }
  if (entries.length === 0) throw new WatchlistError('empty', 'the file holds no entries', source);
  return entries;
}

/** Reads and parses a watchlist file; see {@link parseWatchlistCsv}. */
export async function loadWatchlist(filePath: string): Promise<WatchlistEntry[]> {
  let text: string;
  try {
    text = await readFile(filePath, 'utf8');
  } catch (cause) {
    throw new WatchlistError('unreadable', 'cannot be read', filePath, undefined, { cause });
  }
  return parseWatchlistCsv(text, filePath);
}
