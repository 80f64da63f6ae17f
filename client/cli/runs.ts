/**
 * How every CLI command speaks of one run, payment or registration alike: starting it and saying what happened,
 * finding it by its business id, refusing a message to a run that has ended, and printing its state.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../../config/config';
import type { KeywordAttributeKey } from '../../temporal/search-attributes';
import type { StartedRun } from '../start-once';
import { runUiUrl } from '../ui-links';
import { output, withClient } from './support';

/** What every process state has, whatever the process. */
interface ProcessState {
  status: string;
  steps: readonly { name: string; at: string; detail?: string }[];
}

/** How the CLI speaks of one kind of process. */
export interface ProcessView<S extends ProcessState> {
  /** The word for it in messages: "payment", "registration". */
  noun: string;
  /** The field of the request and state that holds the business id. */
  idField: string;
  workflowId(id: string): string;
  /** The search attribute the workflow keeps its status in, read without asking a worker. */
  statusAttribute: KeywordAttributeKey;
  /** The status a run has before its workflow has set one. */
  initialStatus: string;
  /** Fields a JSON answer always carries, as null until the process sets them. */
  nullFields: readonly (keyof S & string)[];
  /** The lines about this state a person reads above its steps. */
  headline(state: S): string[];
  /** Where the run stands, from the workflow. */
  state(client: Client, id: string): Promise<S>;
}

/** A run found by its business id. */
export interface FoundRun {
  client: Client;
  workflowId: string;
  uiUrl: string;
}

/** Prints a state for people: its headline, its steps, the UI link. */
export function describeState<S extends ProcessState>(view: ProcessView<S>, state: S, uiUrl: string): string {
  const lines = view.headline(state);
  lines.push('  steps:');
  for (const step of state.steps)
    lines.push(`    ${step.at}  ${step.name}${step.detail ? ` — ${step.detail}` : ''}`);
  lines.push(`  UI:       ${uiUrl}`);
  return lines.join('\n');
}

/** A state as the `--json` answer carries it. */
export function stateJson<S extends ProcessState>(
  view: ProcessView<S>,
  state: S,
  workflowId: string,
  uiUrl: string,
  extra: Record<string, unknown> = {},
): object {
  const unset = Object.fromEntries(view.nullFields.map((field) => [field, state[field] ?? null]));
  return { workflowId, ...extra, ...state, ...unset, uiUrl };
}

/**
 * Starts a run (at most once per business id) and says so: the run and its UI link, then with `wait` its final
 * state, otherwise the status the server holds for it.
 */
export async function startAndReport<S extends ProcessState>(
  config: Config,
  view: ProcessView<S>,
  id: string,
  start: (client: Client) => Promise<StartedRun<unknown, S>>,
  flags: { wait: boolean; json: boolean; correlationId?: string },
): Promise<number> {
  const print = output(flags.json);
  return withClient(config, async (client) => {
    const started = await start(client);
    const uiUrl = runUiUrl(
      config.TEMPORAL_UI_URL,
      config.TEMPORAL_NAMESPACE,
      started.workflowId,
      started.runId,
    );
    if (!flags.json) {
      console.log(
        `${view.noun} ${started.existing ? 'already exists' : 'started'}: ${id} (workflow ${started.workflowId})` +
          `\n  UI: ${uiUrl}` +
          (flags.correlationId === undefined ? '' : `\n  correlation id: ${flags.correlationId}`),
      );
    }
    const extra = {
      runId: started.runId,
      existing: started.existing,
      ...(flags.correlationId === undefined ? {} : { correlationId: flags.correlationId }),
    };
    if (flags.wait) {
      const state = await started.handle.result();
      print(describeState(view, state, uiUrl), stateJson(view, state, started.workflowId, uiUrl, extra));
      return 0;
    }
    // What the server already knows; asking the workflow itself would wait for a worker to answer.
    const described = await started.handle.describe();
    const status = described.typedSearchAttributes.get(view.statusAttribute) ?? view.initialStatus;
    const unset = Object.fromEntries(view.nullFields.map((field) => [field, null]));
    print(`  status: ${status}`, {
      [view.idField]: id,
      workflowId: started.workflowId,
      ...extra,
      status,
      ...unset,
      uiUrl,
    });
    return 0;
  });
}

/**
 * Finds the run of a business id and hands it to `act`. `command` names what is asked of it: `status` reads any
 * run; any other command sends a message, which a finished run is refused in its own terms, and which the workflow
 * may refuse too. Exit 1 for an unknown id or a refusal, with a line that says which.
 */
export async function withRun<S extends ProcessState>(
  config: Config,
  view: ProcessView<S>,
  id: string,
  command: string,
  act: (run: FoundRun) => Promise<number>,
  notFound = `no ${view.noun} with id`,
): Promise<number> {
  // Loaded here, not at the top: commands refused for their input never need the Temporal client.
  const { WorkflowNotFoundError, WorkflowUpdateFailedError } = await import('@temporalio/client');
  return withClient(config, async (client) => {
    const workflowId = view.workflowId(id);
    try {
      const described = await client.workflow.getHandle(workflowId).describe();
      const uiUrl = runUiUrl(config.TEMPORAL_UI_URL, config.TEMPORAL_NAMESPACE, workflowId, described.runId);
      if (command !== 'status' && described.status.name !== 'RUNNING') {
        // A finished run takes no more messages; say why in the process's own terms.
        const finished = await view.state(client, id);
        console.error(
          `${command} refused: ${view.noun} ${id} is ${finished.status}; it can no longer be changed`,
        );
        return 1;
      }
      return await act({ client, workflowId, uiUrl });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) {
        console.error(`${notFound} ${id}`);
        return 1;
      }
      if (err instanceof WorkflowUpdateFailedError) {
        console.error(`${command} refused: ${err.cause?.message ?? err.message}`);
        return 1;
      }
      throw err;
    }
  });
}

/** `status` of one run: its state for people, or as JSON. */
export function printStatus<S extends ProcessState>(
  config: Config,
  view: ProcessView<S>,
  id: string,
  json: boolean,
  notFound?: string,
): Promise<number> {
  return withRun(
    config,
    view,
    id,
    'status',
    async ({ client, workflowId, uiUrl }) => {
      const state = await view.state(client, id);
      output(json)(describeState(view, state, uiUrl), stateJson(view, state, workflowId, uiUrl));
      return 0;
    },
    notFound,
  );
}
