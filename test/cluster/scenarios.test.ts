/**
 * baton on a Temporal cluster as its users deploy it: `temporal-server` on PostgreSQL with SQL visibility, started
 * from the shipped configuration. Every payment and registration branch of the demo ends as expected on it, runs
 * are found by baton's search attributes, and the Temporal Web UI's own server lists them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { formatReport, runScenariosOn } from '../../local/scenarios';
import { startLocalStack } from '../../local/stack';
import type { LocalStack } from '../../local/stack';
import type { ClusterUi } from '../../local/temporal-cluster';
import { startEphemeralCluster } from '../../local/ephemeral-cluster';
import type { EphemeralCluster } from '../../local/ephemeral-cluster';
import { dropSchema, TEST_DATABASE_URL, uniqueSchema } from '../support/postgres';

const schema = uniqueSchema('cluster_demo');
let cluster: EphemeralCluster;
let stack: LocalStack;
let ui: ClusterUi;

before(async () => {
  cluster = await startEphemeralCluster();
  stack = await startLocalStack({
    temporal: { address: cluster.server.address, namespace: cluster.server.namespace },
    databaseUrl: TEST_DATABASE_URL,
    databaseSchema: schema,
  });
  ui = await cluster.startUi();
});

after(async () => {
  await stack?.stop();
  await cluster?.stop();
  await dropSchema(schema);
});

describe('baton on a Temporal cluster on PostgreSQL', () => {
  test('ends every payment and registration branch of the demo as expected', async () => {
    const report = await runScenariosOn(stack, () => undefined);
    assert.ok(report.ok, formatReport(report));
    assert.ok(report.scenarios.length >= 10, 'the whole demo ran');
    assert.equal(report.ledger.sum, 0);
  });

  test('finds runs by baton search attributes in SQL visibility', async () => {
    const settled: string[] = [];
    for await (const run of stack.client.workflow.list({ query: `PaymentStatus = 'settled'` })) {
      settled.push(run.workflowId);
    }
    assert.ok(settled.length > 0, 'settled payments are listed by PaymentStatus');
    assert.ok(settled.every((id) => id.startsWith('payment:')));
  });

  test("lists the runs in the Temporal Web UI's server", async () => {
    const answer = await fetch(
      `${ui.url}/api/v1/namespaces/${cluster.server.namespace}/workflows?query=${encodeURIComponent(
        "WorkflowType = 'registrationWorkflow'",
      )}`,
    );
    assert.equal(answer.status, 200);
    const body = (await answer.json()) as { executions?: { execution?: { workflowId?: string } }[] };
    const ids = (body.executions ?? []).map((e) => e.execution?.workflowId ?? '');
    assert.ok(
      ids.some((id) => id.startsWith('registration:')),
      `the UI lists registrations: ${ids.join(', ')}`,
    );
  });
});
