/**
 * An HTTP front, as a load balancer stands before a service's instances (the workers' bank-webhook receivers, when
 * several workers run): each request goes to the first of the current targets that takes it, so instances can come
 * and go behind one address; with `rotate`, each request starts at the next target, spreading the load.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listen, readBody } from '../services/http';

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
  /** Start each request at the next target in turn (round robin), instead of always at the first. */
  rotate?: boolean;
}): Promise<HttpFront> {
  let turn = 0;
  const inOrder = (): readonly string[] => {
    const targets = options.targets();
    if (!options.rotate || targets.length < 2) return targets;
    const first = turn++ % targets.length;
    return [...targets.slice(first), ...targets.slice(0, first)];
  };
  const forward = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req, 1024 * 1024);
    const headers = Object.fromEntries(
      Object.entries(req.headers).filter(
        (entry): entry is [string, string] => !HOP_HEADERS.has(entry[0]) && typeof entry[1] === 'string',
      ),
    );
    for (const target of inOrder()) {
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
