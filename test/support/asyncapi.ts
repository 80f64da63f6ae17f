/**
 * baton's AsyncAPI document, loaded for tests: parsed by the AsyncAPI parser (which resolves every `$ref`), each
 * channel's message schemas compiled with Ajv, so a message read off the bus can be checked against the channel
 * its subject maps to. The unit test checks the document against the code; the events stack test checks the real
 * messages against the document.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import type { AsyncAPIDocumentInterface, Diagnostic } from '@asyncapi/parser';
import Ajv from 'ajv';
import type { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

/** Where the contract lives in the repository. */
export const ASYNCAPI_PATH = join(__dirname, '..', '..', 'docs', 'asyncapi.yaml');

/** One message a channel carries, with its compiled schemas. */
export interface ContractMessage {
  /** The key of the message in the document's components. */
  id: string;
  /** The CloudEvents `type` its payload pins (`properties.type.const`), if it pins one. */
  type: string | undefined;
  payload: Record<string, unknown>;
  validatePayload: ValidateFunction;
  validateHeaders: ValidateFunction | undefined;
}

/** One channel of the document: a NATS subject, what baton does on it, and its messages. */
export interface ContractChannel {
  id: string;
  address: string;
  /** The actions of the operations on this channel: `receive` where baton consumes, `send` where it publishes. */
  actions: string[];
  messages: ContractMessage[];
}

/** The parsed document. */
export interface Contract {
  document: AsyncAPIDocumentInterface;
  /** Every diagnostic the parser gave, warnings included. */
  diagnostics: Diagnostic[];
  /** By address (NATS subject). */
  channels: Map<string, ContractChannel>;
}

/** Why the document could not be read at all; the parser's error diagnostics are kept for the message. */
export class ContractUnreadable extends Error {
  override readonly name = 'ContractUnreadable';
  constructor(readonly diagnostics: readonly Diagnostic[]) {
    super(`docs/asyncapi.yaml does not parse:\n${diagnostics.map(describeDiagnostic).join('\n')}`);
  }
}

/** A diagnostic on one line: where, what. */
export function describeDiagnostic(diagnostic: Diagnostic): string {
  return `${diagnostic.path.join('.') || '(document)'}: ${diagnostic.message} [${diagnostic.code}]`;
}

// The diagnostics carry spectral's own copy of @stoplight/types: the same severity values under another enum
// declaration, so the numbers are compared.
const ERROR_SEVERITY: number = DiagnosticSeverity.Error;

/** The diagnostics that make the document wrong, not merely improvable. */
export function errorDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return diagnostics.filter((diagnostic) => Number(diagnostic.severity) === ERROR_SEVERITY);
}

function compiler(): Ajv {
  // Strict, so a keyword Ajv does not know (a typo in the document) fails the compile instead of being ignored;
  // the parser's own annotation is the one exception.
  const ajv = new Ajv({ allErrors: true, strict: true, keywords: ['x-parser-schema-id'] });
  addFormats(ajv);
  return ajv;
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The `type` a CloudEvent payload schema pins with `const`. */
function pinnedType(payload: Record<string, unknown>): string | undefined {
  const pinned = record(record(payload.properties)?.type)?.const;
  return typeof pinned === 'string' ? pinned : undefined;
}

/** Reads and parses the document; throws {@link ContractUnreadable} when the parser gives no document. */
export async function loadContract(path: string = ASYNCAPI_PATH): Promise<Contract> {
  const text = await readFile(path, 'utf8');
  const { document, diagnostics } = await new Parser().parse(text, { source: path });
  if (document === undefined) throw new ContractUnreadable(errorDiagnostics(diagnostics));
  const ajv = compiler();
  const channels = new Map<string, ContractChannel>();
  for (const channel of document.channels()) {
    const address = channel.address();
    if (address === null || address === undefined) continue;
    const messages = channel
      .messages()
      .all()
      .map((message): ContractMessage => {
        const payload = record(message.payload()?.json()) ?? {};
        const headers = record(message.headers()?.json());
        return {
          id: message.id(),
          type: pinnedType(payload),
          payload,
          validatePayload: ajv.compile(payload),
          validateHeaders: headers === undefined ? undefined : ajv.compile(headers),
        };
      });
    channels.set(address, {
      id: channel.id(),
      address,
      actions: channel
        .operations()
        .all()
        .map((operation) => operation.action()),
      messages,
    });
  }
  return { document, diagnostics, channels };
}

function ajvProblems(validate: ValidateFunction, at: string): string[] {
  return (validate.errors ?? []).map(
    (error) => `${at}${error.instancePath} ${error.message ?? error.keyword}`,
  );
}

/**
 * Every way a message on `subject` breaks the contract: no channel for the subject, a body that is not JSON, or a
 * payload (and headers, when given) that no message of the channel accepts. Empty when it conforms.
 */
export function contractProblems(
  contract: Contract,
  message: { subject: string; body: Uint8Array; headers?: Readonly<Record<string, string>> },
): string[] {
  const channel = contract.channels.get(message.subject);
  if (channel === undefined) return [`subject ${message.subject}: no channel in the AsyncAPI document`];
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(message.body).toString('utf8'));
  } catch {
    return ['body: not JSON'];
  }
  const problems: string[] = [];
  for (const candidate of channel.messages) {
    const own: string[] = [];
    if (!candidate.validatePayload(json)) own.push(...ajvProblems(candidate.validatePayload, 'payload'));
    if (message.headers !== undefined && candidate.validateHeaders !== undefined) {
      if (!candidate.validateHeaders(message.headers))
        own.push(...ajvProblems(candidate.validateHeaders, 'headers'));
    }
    if (own.length === 0) return [];
    problems.push(...own.map((problem) => `${candidate.id}: ${problem}`));
  }
  return problems;
}
