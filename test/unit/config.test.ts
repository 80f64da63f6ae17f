import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { ConfigError, configSchema, loadConfig } from '../../config/config';

describe('configuration', () => {
  test('lists exactly the variables of the schema in .env.example, and its values load', () => {
    const text = readFileSync(path.resolve(__dirname, '../../.env.example'), 'utf8');
    const env: Record<string, string> = {};
    for (const line of text.split('\n')) {
      const match = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
      if (!match) continue;
      const [, name = '', rest = ''] = match;
      env[name] = rest.replace(/\s+#.*$/, '').trim();
    }
    assert.deepEqual(Object.keys(env).sort(), Object.keys(configSchema.shape).sort());
    assert.doesNotThrow(() => loadConfig(env));
  });

  test('bounds the worker cache only when asked, and never below two runs', () => {
    assert.equal(loadConfig({}).WORKER_MAX_CACHED_WORKFLOWS, undefined);
    assert.equal(loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '150' }).WORKER_MAX_CACHED_WORKFLOWS, 150);
    assert.equal(loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '2' }).WORKER_MAX_CACHED_WORKFLOWS, 2);
    // No cache at all would drop the local activities a workflow task waits for.
    assert.throws(
      () => loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: '0' }),
      (err: unknown) => err instanceof ConfigError && /local activities/.test(err.message),
    );
    for (const bad of ['1', '2.5', 'lots', '-5']) {
      assert.throws(
        () => loadConfig({ WORKER_MAX_CACHED_WORKFLOWS: bad }),
        (err: unknown) => err instanceof ConfigError && /WORKER_MAX_CACHED_WORKFLOWS/.test(err.message),
        bad,
      );
    }
  });

  test('joins a worker deployment with both its name and build id, auto-upgrading unless told to pin', () => {
    assert.equal(loadConfig({}).workerDeployment, undefined);
    assert.deepEqual(
      loadConfig({ WORKER_DEPLOYMENT_NAME: 'baton', WORKER_BUILD_ID: '1f3e9c2' }).workerDeployment,
      {
        name: 'baton',
        buildId: '1f3e9c2',
        behavior: 'auto-upgrade',
      },
    );
    assert.equal(
      loadConfig({
        WORKER_DEPLOYMENT_NAME: 'baton',
        WORKER_BUILD_ID: 'v1.4.0',
        WORKER_VERSIONING_BEHAVIOR: 'pinned',
      }).workerDeployment?.behavior,
      'pinned',
    );
    for (const half of [
      { WORKER_DEPLOYMENT_NAME: 'baton' },
      { WORKER_BUILD_ID: '1f3e9c2', WORKER_DEPLOYMENT_NAME: ' ' },
    ]) {
      assert.throws(
        () => loadConfig(half),
        /WORKER_DEPLOYMENT_NAME and WORKER_BUILD_ID must be set together/,
      );
    }
    assert.throws(
      () => loadConfig({ WORKER_VERSIONING_BEHAVIOR: 'pinned' }),
      /WORKER_VERSIONING_BEHAVIOR applies to a worker in a deployment/,
    );
    for (const [variable, value] of [
      ['WORKER_DEPLOYMENT_NAME', 'baton.payments'],
      ['WORKER_DEPLOYMENT_NAME', 'baton:v2'],
      ['WORKER_DEPLOYMENT_NAME', '__baton'],
      ['WORKER_BUILD_ID', '__unversioned__'],
      ['WORKER_VERSIONING_BEHAVIOR', 'sticky'],
    ] as const) {
      assert.throws(
        () => loadConfig({ WORKER_DEPLOYMENT_NAME: 'baton', WORKER_BUILD_ID: '1f3e9c2', [variable]: value }),
        (err: unknown) => err instanceof ConfigError && err.message.includes(`${variable}: `),
        `${variable}=${value}`,
      );
    }
  });

  test('runs the local stack with nothing set', () => {
    const config = loadConfig({});
    assert.equal(config.TEMPORAL_ADDRESS, 'localhost:7233');
    assert.equal(config.DATABASE_URL, undefined);
    assert.equal(config.TEMPORAL_UI_PORT, 8233);
  });

  test('stops on a bad value with a message naming the variable', () => {
    assert.throws(
      () =>
        loadConfig({ TEMPORAL_PORT: 'seventy', DATABASE_URL: 'mysql://db/x', BANK_WEBHOOK_SECRET: 'short' }),
      (err: unknown) =>
        err instanceof ConfigError &&
        err.problems.length === 3 &&
        /TEMPORAL_PORT/.test(err.message) &&
        /DATABASE_URL: must be a postgres:\/\/ URL/.test(err.message) &&
        /BANK_WEBHOOK_SECRET: must be at least 16 characters/.test(err.message),
    );
  });

  test('treats an empty variable as unset', () => {
    assert.equal(loadConfig({ DATABASE_URL: '', TEMPORAL_API_KEY: '  ' }).TEMPORAL_API_KEY, undefined);
  });

  test('refuses a client certificate without its key', () => {
    assert.throws(() => loadConfig({ TEMPORAL_TLS_CERT_PATH: '/tmp/cert.pem' }), /set together/);
  });

  test('reads a real cluster address and API key', () => {
    const config = loadConfig({ TEMPORAL_ADDRESS: 'baton.a1b2c.tmprl.cloud:7233', TEMPORAL_API_KEY: 'key' });
    assert.equal(config.TEMPORAL_ADDRESS, 'baton.a1b2c.tmprl.cloud:7233');
    assert.equal(config.TEMPORAL_API_KEY, 'key');
  });
});
