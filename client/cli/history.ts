/**
 * Exporting a run's event history as the proto JSON that `temporal workflow show --output json` writes: the file a
 * replay test, the Temporal CLI and the Web UI's import all read. Used by the CLI's `history` command and by the
 * replay fixture recorder.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils';
import { z } from 'zod';
import type { Payload } from '@temporalio/common';
import { EncryptionCodec } from '../../temporal/codec';
import type { KeyRing } from '../../config/key-ring';
import type { Config } from '../../config/config';
import { paymentWorkflowId } from '../../workflows/payment-contract';
import { registrationWorkflowId } from '../../workflows/registration-contract';
import { noPositionals, parse, UsageError, withClient } from './support';

/** One run's history, serialized. */
export interface ExportedHistory {
  /** The workflow id the history was found under (with its `payment:` / `registration:` prefix). */
  workflowId: string;
  runId: string;
  /** Proto JSON, pretty-printed, without a trailing newline. */
  json: string;
  events: number;
}

/** No run matched any of the workflow ids tried. */
export class HistoryNotFoundError extends Error {
  override readonly name = 'HistoryNotFoundError';
  readonly code = 'history_not_found';

  constructor(
    readonly workflowIds: readonly string[],
    readonly runId: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(
      `no workflow ${workflowIds.join(' or ')}${runId === undefined ? '' : ` with run ${runId}`} in this namespace`,
      options,
    );
  }
}

/**
 * The workflow ids an id given by a person may mean: a prefixed id means itself; a plain one is a payment's, else a
 * registration's, else (any other workflow) the id as written.
 */
export function candidateWorkflowIds(id: string): string[] {
  if (id.startsWith('payment:') || id.startsWith('registration:')) return [id];
  return [paymentWorkflowId(id), registrationWorkflowId(id), id];
}

/**
 * Fetches one run's full history (the latest run when `runId` is omitted) and serializes it as proto JSON: int64 as
 * strings, enums by their proto names, payloads as base64 `metadata` and `data`. A plain payment or registration
 * id is resolved as {@link candidateWorkflowIds} says. Throws {@link HistoryNotFoundError} when nothing matches.
 */
export async function exportHistory(
  client: Client,
  workflowId: string,
  runId?: string,
  /** Decrypt every payload with these keys, for a person to read; a replayer takes the history as stored. */
  decodeWith?: KeyRing,
): Promise<ExportedHistory> {
  const candidates = candidateWorkflowIds(workflowId);
  for (const candidate of candidates) {
    let resolvedRunId: string;
    try {
      // Pin the run first: without a run id, a new run starting between two pages would mix two histories.
      resolvedRunId = (await client.workflow.getHandle(candidate, runId).describe()).runId;
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) continue;
      throw err;
    }
    const history = await client.workflow.getHandle(candidate, resolvedRunId).fetchHistory();
    if (decodeWith !== undefined) await decodePayloads(history, new EncryptionCodec(decodeWith));
    return {
      workflowId: candidate,
      runId: resolvedRunId,
      json: historyToJSON(history),
      events: history.events?.length ?? 0,
    };
  }
  throw new HistoryNotFoundError(candidates, runId);
}

function isPayload(value: unknown): value is Payload {
  return (
    value !== null &&
    typeof value === 'object' &&
    'metadata' in value &&
    'data' in value &&
    value.data instanceof Uint8Array
  );
}

/** Replaces, in place, every encrypted payload found anywhere in `value` by its decrypted form. */
async function decodePayloads(value: unknown, codec: EncryptionCodec): Promise<void> {
  if (Array.isArray(value)) {
    for (const item of value) await decodePayloads(item, codec);
    return;
  }
  if (value === null || typeof value !== 'object') return;
  for (const [key, item] of Object.entries(value) as [string, unknown][]) {
    if (isPayload(item)) {
      const [plain] = await codec.decode([item]);
      (value as Record<string, unknown>)[key] = plain;
    } else {
      await decodePayloads(item, codec);
    }
  }
}

// Run ids are UUIDs; checking the shape here turns a typo into a usage error instead of a server error.
const runIdSchema = z.guid();

/** `history <workflowId> [--run <runId>] [--out <file>]`: prints a run's history, or writes it to a file. */
export async function historyCommand(config: Config, args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    run: { type: 'string' },
    out: { type: 'string' },
    decode: { type: 'boolean', default: false },
  });
  const [id, ...extra] = positionals;
  if (id === undefined || id.trim() === '')
    throw new UsageError('history needs a workflow, payment or registration id');
  noPositionals(extra);
  let runId: string | undefined;
  if (values.run !== undefined) {
    const parsed = runIdSchema.safeParse(values.run.trim());
    if (!parsed.success) throw new UsageError(`--run must be a run id (a UUID), not "${values.run}"`);
    runId = parsed.data;
  }
  if (values.out !== undefined && values.out.trim() === '') throw new UsageError('--out needs a file name');

  return withClient(config, async (client) => {
    let exported: ExportedHistory;
    try {
      exported = await exportHistory(client, id.trim(), runId, values.decode ? config.codecKeys : undefined);
    } catch (err) {
      if (err instanceof HistoryNotFoundError) {
        console.error(err.message);
        return 1;
      }
      throw err;
    }
    if (values.out === undefined) {
      console.log(exported.json);
      return 0;
    }
    const file = path.resolve(values.out);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, `${exported.json}\n`);
    console.log(
      `wrote ${exported.events} events of ${exported.workflowId} (run ${exported.runId}) to ${file}`,
    );
    return 0;
  });
}
