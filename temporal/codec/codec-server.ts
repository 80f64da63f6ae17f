/**
 * The codec server: Temporal's remote codec protocol over HTTP, so the Web UI and the CLI can show baton's encrypted
 * payloads in clear to the people allowed to see them. `POST …/encode` and `POST …/decode` take and return
 * `{ payloads: [{ metadata: { key: base64 }, data: base64 }] }` (protobuf JSON); only the last path segment counts,
 * so the server can sit under any prefix. Browsers are held to a list of origins; a bearer token and a list of
 * namespaces can narrow access further. Payload contents are never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Payload } from '@temporalio/common';
import { JSONToPayload, payloadToJSON } from '@temporalio/common/lib/proto-utils';
import { z } from 'zod';
import { loadConfig, NAMESPACE_NAME } from '../../config/config';
import type { Config } from '../../config/config';
import {
  BodyTooLargeError,
  HttpProblem,
  fieldIssuesText,
  isJsonContentType,
  listen,
  readBody,
} from '../../services/http';
import { EncryptionCodec, PayloadDecryptionError } from './codec';
import { LOCAL_DEV_KEYS } from '../../config/key-ring';
import type { KeyRing } from '../../config/key-ring';

/** The largest request body the server reads: 1 MiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** How the codec server is started. */
export interface CodecServerOptions {
  host?: string;
  /** 0 picks a free port. */
  port?: number;
  ring: KeyRing;
  /** Browser origins that may call the server (exact `scheme://host:port`); requests without an Origin are not browsers. */
  allowedOrigins: readonly string[];
  /** When set, `/encode` and `/decode` require `Authorization: Bearer <authToken>`. */
  authToken?: string;
  /** When set, the `X-Namespace` header must name one of these. */
  namespaces?: readonly string[];
  /** Receives one line per request: method, operation, namespace, payload count, status. Never payload contents. */
  log?: (line: string) => void;
}

/** A running codec server. */
export interface CodecServer {
  /** Base URL to give the UI (`--ui-codec-endpoint`) or the CLI (`--codec-endpoint`), e.g. `http://127.0.0.1:8888`. */
  readonly url: string;
  readonly port: number;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

// Strict: a field the protocol does not define is refused by name instead of being silently dropped.
const JsonPayloadSchema = z.strictObject({
  metadata: z.record(z.string(), z.base64('metadata values must be base64')).nullish(),
  data: z.base64('data must be base64').nullish(),
  // Newer servers may describe payloads stored elsewhere; the codec has nothing to do with those details.
  externalPayloads: z.array(z.unknown()).nullish(),
});
// Protobuf JSON leaves out an empty repeated field, so `{}` is an empty list of payloads.
const PayloadsBodySchema = z.strictObject({ payloads: z.array(JsonPayloadSchema).default([]) });

const CORS_ALLOWED_METHODS = 'POST, OPTIONS';
const CORS_ALLOWED_HEADERS = 'content-type, x-namespace, authorization';

/** Starts the codec server; resolves once it listens. */
export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const codec = new EncryptionCodec(options.ring);
  const origins = new Set(options.allowedOrigins);
  const namespaces = options.namespaces === undefined ? undefined : new Set(options.namespaces);
  const tokenDigest = options.authToken === undefined ? undefined : sha256(`Bearer ${options.authToken}`);
  const log = options.log ?? (() => undefined);

  const authorized = (req: IncomingMessage): boolean => {
    if (tokenDigest === undefined) return true;
    const header = req.headers.authorization;
    // Compare digests of equal length in constant time, so the answer time says nothing about the token.
    return header !== undefined && timingSafeEqual(sha256(header), tokenDigest);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://codec.local');
    if (url.pathname === '/healthz') {
      if (req.method !== 'GET')
        return sendProblem(res, new HttpProblem(405, 'method_not_allowed', 'use GET'));
      return sendJson(res, 200, { status: 'ok' });
    }
    const operation = url.pathname.split('/').pop();
    if (operation !== 'encode' && operation !== 'decode') {
      return sendProblem(
        res,
        new HttpProblem(404, 'not_found', 'the codec server serves /encode and /decode'),
      );
    }

    const namespaceHeader = header(req, 'x-namespace');
    const shownNamespace =
      namespaceHeader !== undefined && NAMESPACE_NAME.test(namespaceHeader) ? namespaceHeader : '-';
    let payloadCount = 0;
    const status = await (async (): Promise<number> => {
      try {
        const origin = header(req, 'origin');
        const originAllowed = origin === undefined || origins.has(origin);
        if (origin !== undefined && originAllowed) {
          res.setHeader('access-control-allow-origin', origin);
          res.setHeader('access-control-allow-credentials', 'true');
        }
        res.setHeader('vary', 'Origin');
        if (req.method === 'OPTIONS') {
          if (origin === undefined || !originAllowed) {
            throw new HttpProblem(403, 'origin_not_allowed', 'this origin may not call the codec server');
          }
          res.setHeader('access-control-allow-methods', CORS_ALLOWED_METHODS);
          res.setHeader('access-control-allow-headers', CORS_ALLOWED_HEADERS);
          res.setHeader('access-control-max-age', '600');
          res.writeHead(204).end();
          return 204;
        }
        if (req.method !== 'POST') {
          res.setHeader('allow', CORS_ALLOWED_METHODS);
          throw new HttpProblem(405, 'method_not_allowed', `use POST for /${operation}`);
        }
        if (!originAllowed) {
          throw new HttpProblem(403, 'origin_not_allowed', 'this origin may not call the codec server');
        }
        if (!authorized(req)) {
          res.setHeader('www-authenticate', 'Bearer');
          throw new HttpProblem(401, 'unauthorized', 'a valid bearer token is required');
        }
        if (namespaces !== undefined && (namespaceHeader === undefined || !namespaces.has(namespaceHeader))) {
          throw new HttpProblem(
            403,
            'namespace_not_allowed',
            'the X-Namespace header names no allowed namespace',
          );
        }

        if (!isJsonContentType(header(req, 'content-type'))) {
          throw new HttpProblem(415, 'unsupported_media_type', 'content-type must be application/json');
        }
        const payloads = await readPayloads(req);
        payloadCount = payloads.length;
        const result = operation === 'encode' ? await codec.encode(payloads) : await codec.decode(payloads);
        sendJson(res, 200, { payloads: result.map((payload) => payloadToJSON(payload)) });
        return 200;
      } catch (error) {
        const problem = toProblem(error);
        if (res.headersSent) {
          res.destroy();
        } else {
          sendProblem(res, problem);
        }
        return problem.httpStatus;
      }
    })();
    log(
      `codec server: ${req.method ?? '?'} /${operation} namespace=${shownNamespace} payloads=${payloadCount} -> ${status}`,
    );
  };

  const server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) sendProblem(res, new HttpProblem(500, 'internal', 'the codec server failed'));
      else res.destroy();
    });
  });
  const bound = await listen(server, options.host ?? '127.0.0.1', options.port ?? 0);
  return {
    url: bound.origin,
    port: bound.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function readPayloads(req: IncomingMessage): Promise<Payload[]> {
  let json: unknown;
  try {
    json = JSON.parse((await readBody(req, MAX_BODY_BYTES)).toString('utf8'));
  } catch (error) {
    if (error instanceof BodyTooLargeError) {
      throw new HttpProblem(413, 'body_too_large', `the body is over ${MAX_BODY_BYTES} bytes`);
    }
    if (error instanceof SyntaxError) throw new HttpProblem(400, 'invalid_json', 'the body is not JSON');
    throw error;
  }
  const parsed = PayloadsBodySchema.safeParse(json);
  if (!parsed.success) throw new HttpProblem(400, 'invalid_body', fieldIssuesText(parsed.error.issues));
  // Absent and null fields are left out: the protobuf JSON reader refuses a field that is there but empty.
  return parsed.data.payloads.map(({ metadata, data }) =>
    JSONToPayload({ ...(metadata == null ? {} : { metadata }), ...(data == null ? {} : { data }) }),
  );
}

function toProblem(error: unknown): HttpProblem {
  if (error instanceof HttpProblem) return error;
  // Names the key id and what went wrong; the payload itself is never repeated.
  if (error instanceof PayloadDecryptionError) return new HttpProblem(422, error.code, error.message);
  return new HttpProblem(500, 'internal', 'the codec server failed');
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function sendProblem(res: ServerResponse, problem: HttpProblem): void {
  if (problem.httpStatus === 413) res.setHeader('connection', 'close');
  sendJson(res, problem.httpStatus, { error: { code: problem.code, message: problem.message } });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** What the stand-alone codec server takes from baton's configuration. */
export interface CodecServerSettings {
  host: string;
  port: number;
  ring: KeyRing;
  allowedOrigins: string[];
  authToken?: string;
  namespaces?: string[];
  /** True when the published local development keys are in use (BATON_CODEC_KEYS unset, or set to them). */
  usingLocalDevKeys: boolean;
}

/** The codec server's part of a validated configuration. */
export function codecServerSettings(config: Config): CodecServerSettings {
  return {
    host: config.CODEC_SERVER_HOST,
    port: config.CODEC_SERVER_PORT,
    ring: config.codecKeys,
    allowedOrigins: config.CODEC_ALLOWED_ORIGINS,
    ...(config.CODEC_AUTH_TOKEN === undefined ? {} : { authToken: config.CODEC_AUTH_TOKEN }),
    ...(config.CODEC_NAMESPACES === undefined ? {} : { namespaces: config.CODEC_NAMESPACES }),
    usingLocalDevKeys: config.BATON_CODEC_KEYS === LOCAL_DEV_KEYS,
  };
}

/** Reads the stand-alone codec server's settings; a bad value throws a `ConfigError` naming the variable. */
export function loadCodecServerSettings(env: NodeJS.ProcessEnv = process.env): CodecServerSettings {
  return codecServerSettings(loadConfig(env));
}
