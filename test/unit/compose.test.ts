import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { access, readFile } from 'node:fs/promises';
import path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { configSchema, loadConfig } from '../../config/config';
import { SEARCH_ATTRIBUTES } from '../../temporal/search-attributes';

const ROOT = path.resolve(__dirname, '../..');

const envSchema = z.union([
  z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
  z.array(z.string()),
]);
const serviceSchema = z.object({
  image: z.string().optional(),
  build: z
    .union([z.string(), z.object({ context: z.string(), dockerfile: z.string().optional() })])
    .optional(),
  depends_on: z
    .union([z.array(z.string()), z.record(z.string(), z.object({ condition: z.string() }).passthrough())])
    .optional(),
  environment: envSchema.optional(),
  volumes: z.array(z.string()).optional(),
  command: z.union([z.string(), z.array(z.string())]).optional(),
  entrypoint: z.union([z.string(), z.array(z.string())]).optional(),
  healthcheck: z
    .object({ test: z.union([z.string(), z.array(z.string())]) })
    .passthrough()
    .optional(),
});
const composeSchema = z.object({
  services: z.record(z.string(), serviceSchema.passthrough()),
  volumes: z.record(z.string(), z.unknown()).optional(),
});
type Service = z.infer<typeof serviceSchema>;

/** A service's environment as name => value, whichever of the two compose spellings it uses. */
function environmentOf(service: Service): Map<string, string> {
  const env = service.environment;
  if (env === undefined) return new Map();
  if (Array.isArray(env)) {
    return new Map(env.map((entry) => [entry.split('=')[0] ?? entry, entry.slice(entry.indexOf('=') + 1)]));
  }
  return new Map(Object.entries(env).map(([name, value]) => [name, value === null ? '' : String(value)]));
}

/** Resolves `${VAR:-default}` to its default, as compose does with nothing set. */
function withDefaults(value: string): string {
  return value.replace(
    /\$\{[A-Z0-9_]+(?::?-([^}]*))?\}/g,
    (_match, fallback: string | undefined) => fallback ?? '',
  );
}

async function exists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch {
    return false;
  }
}

describe('docker-compose.yml', () => {
  let services: Record<string, Service>;
  let namedVolumes: Set<string>;

  before(async () => {
    const compose = composeSchema.parse(parse(await readFile(path.join(ROOT, 'docker-compose.yml'), 'utf8')));
    services = compose.services;
    namedVolumes = new Set(Object.keys(compose.volumes ?? {}));
  });

  function service(name: string): Service {
    const found = services[name];
    assert.ok(found, `service ${name} is defined`);
    return found;
  }

  test('defines the stack baton runs on', () => {
    for (const name of [
      'postgresql',
      'temporal-schema',
      'temporal',
      'temporal-setup',
      'temporal-ui',
      'mailcatcher',
      'bank-simulator',
      'sms-sink',
      'worker',
    ]) {
      service(name);
    }
  });

  test('gives every service an image or a build', () => {
    for (const [name, svc] of Object.entries(services)) {
      assert.ok(svc.image !== undefined || svc.build !== undefined, `${name} has neither image nor build`);
    }
  });

  test('makes services depend only on services that exist', () => {
    for (const [name, svc] of Object.entries(services)) {
      const deps = Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});
      for (const dep of deps) {
        assert.ok(dep in services, `${name} depends on undefined service ${dep}`);
        assert.notEqual(dep, name, `${name} depends on itself`);
      }
    }
  });

  test('starts the worker only once Temporal is set up and its dependencies are healthy', () => {
    const deps = service('worker').depends_on;
    assert.ok(deps !== undefined && !Array.isArray(deps));
    assert.equal(deps['temporal-setup']?.condition, 'service_completed_successfully');
    assert.equal(deps.postgresql?.condition, 'service_healthy');
    for (const [dep, { condition }] of Object.entries(deps)) {
      if (condition === 'service_healthy') {
        assert.ok(service(dep).healthcheck, `${dep} is awaited as healthy but has no healthcheck`);
      }
    }
  });

  test("gives the worker every variable baton's configuration needs, pointing at the compose services", () => {
    const env = environmentOf(service('worker'));
    for (const name of [
      'TEMPORAL_ADDRESS',
      'DATABASE_URL',
      'BANK_URL',
      'BANK_WEBHOOK_SECRET',
      'BANK_WEBHOOK_URL',
    ]) {
      assert.ok(env.has(name), `worker environment lacks ${name}`);
    }
    assert.equal(env.get('TEMPORAL_ADDRESS'), 'temporal:7233');
    assert.match(
      withDefaults(env.get('DATABASE_URL') ?? ''),
      /^postgres:\/\/[^:]+:[^@]+@postgresql:5432\/\w+$/,
    );
    assert.equal(env.get('BANK_URL'), 'http://bank-simulator:7300');
    assert.equal(env.get('BANK_WEBHOOK_URL'), 'http://worker:7301/webhooks/bank');
    assert.ok(
      withDefaults(env.get('BANK_WEBHOOK_SECRET') ?? '').length >= 16,
      'the default secret is long enough',
    );
  });

  test("sets on baton's own services only variables its configuration knows, with values it accepts", () => {
    const known = new Set(Object.keys(configSchema.shape));
    for (const name of ['worker', 'bank-simulator', 'sms-sink']) {
      const env = environmentOf(service(name));
      for (const variable of env.keys()) assert.ok(known.has(variable), `${name} sets unknown ${variable}`);
      const resolved = Object.fromEntries([...env].map(([k, v]) => [k, withDefaults(v)]));
      assert.doesNotThrow(() => loadConfig(resolved), `${name}'s environment passes validation`);
    }
  });

  test('lets the bank simulator and the worker share one webhook secret and reach each other', () => {
    const bank = environmentOf(service('bank-simulator'));
    const worker = environmentOf(service('worker'));
    assert.equal(bank.get('BANK_WEBHOOK_SECRET'), worker.get('BANK_WEBHOOK_SECRET'));
    assert.equal(bank.get('BANK_WEBHOOK_URL'), worker.get('BANK_WEBHOOK_URL'));
    assert.equal(bank.get('BANK_SIM_HOST'), '0.0.0.0');
    assert.equal(worker.get('WEBHOOK_HOST'), '0.0.0.0');
  });

  test('registers every search attribute of the payment contract, with its type', () => {
    const listed = environmentOf(service('temporal-setup')).get('SEARCH_ATTRIBUTES') ?? '';
    const registered: Record<string, string> = {};
    for (const pair of listed.split(/\s+/).filter(Boolean)) {
      const [name = '', type = ''] = pair.split('=');
      registered[name] = type;
    }
    assert.deepEqual(registered, { ...SEARCH_ATTRIBUTES });
  });

  test('enables Workflow Updates in the Temporal server it mounts', async () => {
    const env = environmentOf(service('temporal'));
    assert.equal(env.get('DB'), 'postgres12');
    const mount = (service('temporal').volumes ?? []).find((volume) => volume.includes('dynamicconfig'));
    assert.ok(mount, 'the dynamic config is mounted');
    const [source, target] = mount.split(':');
    assert.ok(source !== undefined && target !== undefined);
    assert.ok(
      target.endsWith(env.get('DYNAMIC_CONFIG_FILE_PATH') ?? '<unset>'),
      'the server reads the mounted file',
    );
    const dynamicConfig = z
      .record(z.string(), z.array(z.object({ value: z.unknown() })))
      .parse(parse(await readFile(path.join(ROOT, source), 'utf8')));
    assert.deepEqual(dynamicConfig['frontend.enableUpdateWorkflowExecution'], [{ value: true }]);
  });

  test('runs Temporal on the files the cluster tests run: schema.sh, config/baton.yaml, setup.sh', async () => {
    const mounts = (name: string): Map<string, string> =>
      new Map(
        (service(name).volumes ?? []).map((volume) => {
          const [source = '', target = ''] = volume.split(':');
          return [source, target];
        }),
      );
    assert.equal(
      mounts('temporal-schema').get('./deploy/temporal/schema.sh'),
      '/etc/baton/temporal-schema.sh',
    );
    assert.deepEqual(service('temporal-schema').entrypoint, ['/bin/sh', '/etc/baton/temporal-schema.sh']);
    assert.equal(mounts('temporal-setup').get('./deploy/temporal/setup.sh'), '/etc/baton/temporal-setup.sh');
    // The image starts `temporal-server --env docker`: mounted there, the template is the server's whole config.
    assert.equal(
      mounts('temporal').get('./deploy/temporal/config/baton.yaml'),
      '/etc/temporal/config/docker.yaml',
    );
    const serverDeps = service('temporal').depends_on;
    assert.ok(serverDeps !== undefined && !Array.isArray(serverDeps));
    assert.equal(serverDeps['temporal-schema']?.condition, 'service_completed_successfully');

    // Every variable the template requires, and the database settings the schema step must share with the server.
    const template = await readFile(path.join(ROOT, 'deploy/temporal/config/baton.yaml'), 'utf8');
    const required = [...template.matchAll(/if not \(env "([A-Z_]+)"\) \}\}\s*\{\{- fail/g)].map(
      (m) => m[1] ?? '',
    );
    assert.deepEqual(required.sort(), ['DYNAMIC_CONFIG_FILE_PATH', 'POSTGRES_SEEDS']);
    const server = environmentOf(service('temporal'));
    const schema = environmentOf(service('temporal-schema'));
    for (const name of required) assert.ok(server.get(name), `temporal sets ${name}`);
    for (const name of ['DB', 'POSTGRES_SEEDS', 'DB_PORT', 'POSTGRES_USER', 'POSTGRES_PWD']) {
      assert.equal(schema.get(name), server.get(name), `temporal-schema and temporal agree on ${name}`);
    }
  });

  test('mounts and builds only from files that exist in the repository', async () => {
    for (const [name, svc] of Object.entries(services)) {
      for (const volume of svc.volumes ?? []) {
        const source = volume.split(':')[0] ?? '';
        if (namedVolumes.has(source)) continue;
        assert.ok(
          source.startsWith('./'),
          `${name} mounts ${source}, which is neither a named volume nor ./path`,
        );
        assert.ok(await exists(path.join(ROOT, source)), `${name} mounts missing ${source}`);
      }
      if (svc.build !== undefined) {
        const context = typeof svc.build === 'string' ? svc.build : svc.build.context;
        const dockerfile =
          typeof svc.build === 'string' ? 'Dockerfile' : (svc.build.dockerfile ?? 'Dockerfile');
        assert.ok(
          await exists(path.join(ROOT, context, dockerfile)),
          `${name} builds from missing ${dockerfile}`,
        );
      }
    }
  });

  test('builds the release in one stage and runs its compiled worker with the bundle it built', async () => {
    const dockerfile = await readFile(path.join(ROOT, 'Dockerfile'), 'utf8');
    const stages = dockerfile.split(/^(?=FROM\s)/m).filter((stage) => stage.startsWith('FROM'));
    assert.equal(stages.length, 2, 'a build stage and a runtime stage');
    const [build = '', runtime = ''] = stages;
    const stageName = /^FROM\s+\S+\s+AS\s+(\S+)$/m.exec(build)?.[1];
    const outDir = /^RUN\s+npm run build -- (\S+)$/m.exec(build)?.[1];
    assert.ok(stageName && outDir, 'the build stage is named and runs npm run build -- <dir>');
    const packageJson = z
      .object({ scripts: z.record(z.string(), z.string()) })
      .parse(JSON.parse(await readFile(path.join(ROOT, 'package.json'), 'utf8')));
    assert.equal(packageJson.scripts.build, 'tsx workers/build-main.ts');

    const workdir = /^WORKDIR\s+(\S+)$/m.exec(runtime)?.[1] ?? '';
    const copied = new RegExp(`^COPY --from=${stageName} (\\S+) (\\S+)$`, 'm').exec(runtime);
    const loaded = /^ENV\s+WORKFLOW_BUNDLE_PATH=(\S+)$/m.exec(runtime)?.[1] ?? '';
    assert.ok(workdir && copied && loaded, 'the runtime stage copies the release and names its bundle');
    const [, from = '', to = ''] = copied;
    const release = path.posix.resolve(workdir, to);
    assert.equal(from, path.posix.resolve(workdir, outDir), 'the runtime copies the folder the build wrote');
    assert.equal(
      loaded,
      path.posix.join(release, 'workflow-bundle.js'),
      'the worker loads the bundle the build wrote',
    );
    assert.equal(loadConfig({ WORKFLOW_BUNDLE_PATH: loaded }).WORKFLOW_BUNDLE_PATH, loaded);
    assert.match(runtime, /npm ci --omit=dev/, 'the runtime stage installs production dependencies only');

    const cmd = z.array(z.string()).parse(JSON.parse(/^CMD\s+(\[.*\])$/m.exec(runtime)?.[1] ?? 'null'));
    assert.deepEqual(cmd, ['node', `${path.posix.relative(workdir, release)}/js/workers/main.js`]);
    const ignored = (await readFile(path.join(ROOT, '.dockerignore'), 'utf8')).split('\n');
    for (const needed of [
      'workflows',
      'workers',
      'services',
      'activities',
      'client',
      'tsconfig.build.json',
    ]) {
      assert.ok(!ignored.includes(needed), `.dockerignore leaves ${needed} out of the image`);
    }
  });

  test('runs commands whose entry points exist in the repository', async () => {
    for (const [name, svc] of Object.entries(services)) {
      const args = typeof svc.command === 'string' ? svc.command.split(/\s+/) : (svc.command ?? []);
      for (const arg of args) {
        // A compiled entry point dist/js/<path>.js is built from <path>.ts.
        const source = /^dist\/js\/(.+)\.js$/.exec(arg)?.[1];
        if (source !== undefined) {
          assert.ok(
            await exists(path.join(ROOT, `${source}.ts`)),
            `${name} runs ${arg}, built from missing ${source}.ts`,
          );
        }
        if (/\.ts$/.test(arg)) assert.ok(await exists(path.join(ROOT, arg)), `${name} runs missing ${arg}`);
      }
    }
  });
});
