/**
 * Just enough of RFC 5322 and MIME to read back what baton sends: folded headers, RFC 2047 encoded words,
 * multipart bodies (nested), and the 7bit, 8bit, quoted-printable and base64 transfer encodings. The SMTP sink uses
 * it to store each message's subject, text and HTML as a person would read them.
 */

/** The readable parts of one message. */
export interface ParsedMail {
  /** Header name in lower case => every value, in order, unfolded and decoded. */
  headers: ReadonlyMap<string, readonly string[]>;
  subject: string;
  /** The `Message-ID` header as sent, angle brackets included. */
  messageId: string | undefined;
  /** The first text/plain part that is not an attachment; `''` when there is none. */
  text: string;
  /** The first text/html part that is not an attachment. */
  html: string | undefined;
}

/** Reads a raw RFC 5322 message. Never throws: what it cannot make sense of is left out. */
export function parseMail(raw: Buffer): ParsedMail {
  // latin1 maps each byte to one character, so offsets and byte values survive until a part is decoded.
  const root = parseEntity(raw.toString('latin1'));
  const bodies: { text?: string; html?: string } = {};
  collectBodies(root, bodies, 0);
  return {
    headers: root.headers,
    subject: firstHeader(root.headers, 'subject') ?? '',
    messageId: firstHeader(root.headers, 'message-id'),
    text: bodies.text ?? '',
    html: bodies.html,
  };
}

interface Entity {
  headers: Map<string, string[]>;
  /** Still in its transfer encoding, as a latin1 string. */
  body: string;
}

interface ContentType {
  type: string;
  params: Map<string, string>;
}

/** Nesting deeper than any real message needs is ignored rather than followed. */
const MAX_DEPTH = 8;

function parseEntity(source: string): Entity {
  const separator = /\r?\n\r?\n/.exec(source);
  let headerBlock: string;
  let body: string;
  if (/^\r?\n/.test(source)) {
    headerBlock = '';
    body = source.replace(/^\r?\n/, '');
  } else if (separator === null) {
    headerBlock = source;
    body = '';
  } else {
    headerBlock = source.slice(0, separator.index);
    body = source.slice(separator.index + separator[0].length);
  }
  return { headers: parseHeaders(headerBlock), body };
}

function parseHeaders(block: string): Map<string, string[]> {
  const headers = new Map<string, string[]>();
  const logical: string[] = [];
  for (const line of block.split(/\r?\n/)) {
    const previous = logical.length - 1;
    // A line that starts with white space continues the header above it (folding).
    if (/^[ \t]/.test(line) && previous >= 0) logical[previous] += line;
    else if (line !== '') logical.push(line);
  }
  for (const line of logical) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = decodeHeaderValue(utf8IfRaw(line.slice(colon + 1).trim()));
    const values = headers.get(name);
    if (values) values.push(value);
    else headers.set(name, [value]);
  }
  return headers;
}

function firstHeader(headers: ReadonlyMap<string, readonly string[]>, name: string): string | undefined {
  return headers.get(name)?.[0];
}

/** Headers sent with SMTPUTF8 carry raw UTF-8 bytes; plain ASCII is left as it is. */
function utf8IfRaw(latin1: string): string {
  return /[\x80-\xff]/.test(latin1) ? Buffer.from(latin1, 'latin1').toString('utf8') : latin1;
}

const ENCODED_WORD = /=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=/g;

/**
 * Decodes RFC 2047 encoded words in a header value. White space between two encoded words is dropped, and
 * adjacent words in one charset are joined before decoding, since an encoder may split a character between them.
 */
export function decodeHeaderValue(value: string): string {
  let decoded = '';
  let pending: { charset: string; chunks: Buffer[] } | undefined;
  let last = 0;
  for (const match of value.matchAll(ENCODED_WORD)) {
    const [word, charsetLabel = '', encoding = '', data = ''] = match;
    // RFC 2231 allows a language after the charset: `utf-8*en`.
    const charset = (charsetLabel.split('*')[0] ?? '').toLowerCase();
    const bytes =
      encoding.toLowerCase() === 'b' ? Buffer.from(data, 'base64') : decodeQuotedPrintable(data, true);
    const gap = value.slice(last, match.index);
    const betweenWords = pending !== undefined && gap.trim() === '';
    if (pending !== undefined && betweenWords && pending.charset === charset) {
      pending.chunks.push(bytes);
    } else {
      if (pending !== undefined) decoded += decodeCharset(Buffer.concat(pending.chunks), pending.charset);
      if (!betweenWords) decoded += gap;
      pending = { charset, chunks: [bytes] };
    }
    last = match.index + word.length;
  }
  if (pending !== undefined) decoded += decodeCharset(Buffer.concat(pending.chunks), pending.charset);
  return decoded + value.slice(last);
}

function parseContentType(value: string | undefined): ContentType {
  const params = new Map<string, string>();
  if (value === undefined) return { type: 'text/plain', params };
  const semicolon = value.indexOf(';');
  const type = (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  const paramPattern = /;\s*([^=\s;]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;\s]*))/g;
  for (const match of value.matchAll(paramPattern)) {
    const [, name = '', quoted, bare] = match;
    params.set(name.toLowerCase(), quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (bare ?? ''));
  }
  return { type: type === '' ? 'text/plain' : type, params };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The parts of a multipart body: what lies between the boundary lines, preamble and epilogue left out. */
function splitMultipart(body: string, boundary: string): string[] {
  const delimiter = new RegExp(`(?<=^|\\n)--${escapeRegExp(boundary)}(--)?[ \\t]*(?:\\r?\\n|$)`, 'g');
  const parts: string[] = [];
  let start: number | undefined;
  for (const match of body.matchAll(delimiter)) {
    if (start !== undefined) {
      // The line break before a delimiter belongs to the delimiter, not to the part.
      parts.push(body.slice(start, match.index).replace(/\r?\n$/, ''));
    }
    if (match[1] === '--') return parts;
    start = match.index + match[0].length;
  }
  // No closing delimiter: keep what was started, a truncated message still shows its parts.
  if (start !== undefined) parts.push(body.slice(start));
  return parts;
}

function collectBodies(entity: Entity, found: { text?: string; html?: string }, depth: number): void {
  if (depth > MAX_DEPTH) return;
  const contentType = parseContentType(firstHeader(entity.headers, 'content-type'));
  const boundary = contentType.params.get('boundary');
  if (contentType.type.startsWith('multipart/') && boundary !== undefined && boundary !== '') {
    for (const part of splitMultipart(entity.body, boundary)) {
      collectBodies(parseEntity(part), found, depth + 1);
    }
    return;
  }
  const disposition = (firstHeader(entity.headers, 'content-disposition') ?? '').trim().toLowerCase();
  if (disposition.startsWith('attachment')) return;
  if (contentType.type === 'text/plain' && found.text === undefined) {
    found.text = decodeBody(entity, contentType);
  } else if (contentType.type === 'text/html' && found.html === undefined) {
    found.html = decodeBody(entity, contentType);
  }
}

function decodeBody(entity: Entity, contentType: ContentType): string {
  const encoding = (firstHeader(entity.headers, 'content-transfer-encoding') ?? '7bit').trim().toLowerCase();
  let bytes: Buffer;
  if (encoding === 'base64') {
    bytes = Buffer.from(entity.body.replace(/[^A-Za-z0-9+/=]/g, ''), 'base64');
  } else if (encoding === 'quoted-printable') {
    bytes = decodeQuotedPrintable(entity.body, false);
  } else {
    bytes = Buffer.from(entity.body, 'latin1');
  }
  return decodeCharset(bytes, contentType.params.get('charset') ?? 'utf-8').replace(/\r\n/g, '\n');
}

/**
 * Quoted-printable (RFC 2045) or, with `headerWord`, the Q encoding of RFC 2047, where `_` stands for a space and
 * there are no soft line breaks.
 */
function decodeQuotedPrintable(encoded: string, headerWord: boolean): Buffer {
  let text = encoded;
  if (headerWord) {
    text = text.replace(/_/g, ' ');
  } else {
    // Transport may add white space at line ends; an encoder that meant it wrote =20 or =09.
    text = text.replace(/[ \t]+(?=\r?\n|$)/g, '').replace(/=\r?\n/g, '');
  }
  const latin1 = text.replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) =>
    String.fromCharCode(parseInt(hex, 16)),
  );
  return Buffer.from(latin1, 'latin1');
}

function decodeCharset(bytes: Buffer, charset: string): string {
  try {
    return new TextDecoder(charset.trim() === '' ? 'utf-8' : charset.trim()).decode(bytes);
  } catch {
    // An unknown label: UTF-8 is what baton sends, and keeps ASCII intact whatever the label meant.
    return new TextDecoder('utf-8').decode(bytes);
  }
}
