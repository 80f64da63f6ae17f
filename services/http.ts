/** The plumbing baton's small HTTP servers share: listening on a port and reading a body with a size limit. */
import type { IncomingMessage, Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A body over the limit; the server answers 413 in its own dialect. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
  constructor(readonly limitBytes: number) {
    super(`the body is over ${limitBytes} bytes`);
  }
}

/** A request a server refuses: the HTTP status, a machine-readable code and words for people. */
export class HttpProblem extends Error {
  constructor(
    readonly httpStatus: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** Reads the whole request body, refusing (early, by Content-Length, or while streaming) more than `limitBytes`. */
export async function readBody(req: IncomingMessage, limitBytes: number): Promise<Buffer> {
  if (Number(req.headers['content-length'] ?? 0) > limitBytes) throw new BodyTooLargeError(limitBytes);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > limitBytes) throw new BodyTooLargeError(limitBytes);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks);
}

/** Starts `server` on host:port (0 picks a free port) and says where it ended up. */
export async function listen(
  server: Server,
  host: string,
  port: number,
): Promise<{ port: number; origin: string }> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const bound = (server.address() as AddressInfo).port;
  return { port: bound, origin: `http://${host.includes(':') ? `[${host}]` : host}:${bound}` };
}

/** True when a Content-Type header says JSON (`application/json`, parameters such as a charset allowed). */
export function isJsonContentType(header: string | undefined): boolean {
  return header !== undefined && header.split(';')[0]?.trim().toLowerCase() === 'application/json';
}

/** What a validation issue carries that is worth telling the sender. */
export interface FieldIssue {
  readonly path: readonly PropertyKey[];
  readonly message: string;
}

const MAX_ISSUES_TEXT = 500;

/**
 * Validation issues as one line naming each field (`payloads.0.data: …`, `body: …` for the whole body), cut to a
 * bounded length, since a hostile body can make many or long ones.
 */
export function fieldIssuesText(issues: readonly FieldIssue[]): string {
  const text = issues
    .map((issue) => `${issue.path.map((part) => String(part)).join('.') || 'body'}: ${issue.message}`)
    .join('; ');
  return text.length > MAX_ISSUES_TEXT ? `${text.slice(0, MAX_ISSUES_TEXT)}…` : text;
}
