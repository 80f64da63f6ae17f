/**
 * What a load balancer in front of baton's webhook receivers does when several workers run: the bank posts every
 * webhook to one address, and each is passed on, untouched, to the workers' receivers in turn. The benchmark
 * repoints it at each phase's workers, so the bank is started once.
 */
import { createServer, request } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { listen } from '../services/http';

/** A running balancer. */
export interface WebhookBalancer {
  /** The address the bank posts to, e.g. `http://127.0.0.1:4011`. */
  readonly origin: string;
  /** The receivers' ports on 127.0.0.1 from now on; requests go to each in turn. */
  route(ports: readonly number[]): void;
  close(): Promise<void>;
}

/** Starts a balancer on a free port of 127.0.0.1 and resolves once it listens. */
export async function startWebhookBalancer(): Promise<WebhookBalancer> {
  let ports: readonly number[] = [];
  let next = 0;
  const forward = (req: IncomingMessage, res: ServerResponse) => {
    const port = ports[next % Math.max(1, ports.length)];
    next += 1;
    if (port === undefined) {
      res.writeHead(503).end();
      return;
    }
    // Method, path, headers (the signature among them) and body as received: the receiver checks them, not this.
    const upstream = request(
      { host: '127.0.0.1', port, method: req.method, path: req.url, headers: req.headers },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    // A receiver that is down answers 502, and the bank retries as it would behind a real balancer.
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    req.pipe(upstream);
  };
  const server = createServer(forward);
  const { origin } = await listen(server, '127.0.0.1', 0);
  return {
    origin,
    route(receivers) {
      ports = [...receivers];
      next = 0;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
