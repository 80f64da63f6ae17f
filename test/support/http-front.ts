/**
 * An HTTP front for tests, as a load balancer stands before a service's instances: each request goes to the first
 * of the current targets that takes it, so instances can come and go behind one address.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listen, readBody } from '../../services/http';

/** A running front. */
export interface HttpFront {
  /** Its origin, e.g. `http://127.0.0.1:4100`. */
  readonly url: string;
  close(): Promise<void>;
}

/** Headers a front passes on: everything but the hop's own. */
const HOP_HEADERS = new Set(['host', 'connection', 'content-length', 'transfer-encoding', 'keep-alive']);

/**
 * Starts a front on `port` (0: a free one) before `targets()`, origins asked afresh for every request; a target
 * that does not answer is skipped, and a request none takes is answered 502.
 */
export async function startHttpFront(options: {
  port?: number;
  targets: () => readonly string[];
}): Promise<HttpFront> {
  const forward = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req, 1024 * 1024);
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(
        (entry): entry is [string, string] => !HOP_HEADERS.has(entry[0]) && typeof entry[1] === 'string',
      ),
    );
    for (const target of options.targets()) {
      let answer: Response;
      try {
        answer = await fetch(new URL(req.url ?? '/', target), {
          method: req.method ?? 'GET',
          headers,
          ...(req.method === 'GET' || req.method === 'HEAD' ? {} : { body }),
        });
      } catch {
        continue; // not listening (stopped, or not started yet): the next one
      }
      const answered = Buffer.from(await answer.arrayBuffer());
      const type = answer.headers.get('content-type');
      res.writeHead(answer.status, type === null ? {} : { 'content-type': type }).end(answered);
      return;
    }
    res.writeHead(502).end();
  };

  const server = createServer((req, res) => {
    forward(req, res).catch(() => {
      if (res.headersSent) res.destroy();
      else res.writeHead(502).end();
    });
  });
  const { origin } = await listen(server, '127.0.0.1', options.port ?? 0);
  return {
    url: origin,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
