import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  TEMPORAL_CLI_PACKAGE,
  TEMPORAL_CLI_VERSION,
  TemporalCliError,
  TemporalCliErrorCode,
  cachedBinaryPath,
  resolveTemporalCli,
} from '../../local/temporal-cli';

let root: string;

before(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'baton-temporal-cli-'));
});

after(async () => {
  await rm(root, { recursive: true, force: true });
});

/** A fresh folder under the test's temp root. */
async function folder(name: string): Promise<string> {
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

async function executable(file: string, body: string): Promise<string> {
  await writeFile(file, `#!/bin/sh\n${body}\n`);
  await chmod(file, 0o755);
  return file;
}

/**
 * A stand-in for the Go toolchain: records each call and its build settings, then writes an executable `temporal`
 * into $GOBIN after `delay` seconds (or fails when `fail` is set).
 */
async function fakeGo(dir: string, opts: { delay?: number; fail?: boolean } = {}): Promise<string> {
  const calls = path.join(dir, 'calls.log');
  const build = opts.fail
    ? 'echo "go: go.mod requires go >= 1.25.0 (running go 1.19)" >&2; exit 1'
    : [
        'echo "go: downloading go.temporal.io/server v1.29.1" >&2',
        `sleep ${opts.delay ?? 0}`,
        'printf "#!/bin/sh\\necho temporal\\n" > "$GOBIN/temporal"',
        'chmod 755 "$GOBIN/temporal"',
      ].join('\n');
  await executable(
    path.join(dir, 'go'),
    [`echo "$* GOBIN=$GOBIN CGO_ENABLED=$CGO_ENABLED GOFLAGS=$GOFLAGS" >> "${calls}"`, build].join('\n'),
  );
  return calls;
}

async function rejectsWith(promise: Promise<unknown>, code: TemporalCliErrorCode): Promise<TemporalCliError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TemporalCliError, `expected a TemporalCliError, got ${String(error)}`);
    assert.equal(error.code, code);
    return error;
  }
  assert.fail('expected the resolver to fail');
}

describe('resolveTemporalCli', () => {
  test('names TEMPORAL_CLI_PATH when it points at a missing file', async () => {
    const missing = path.join(root, 'no-such-temporal');
    const error = await rejectsWith(
      resolveTemporalCli({
        env: { TEMPORAL_CLI_PATH: missing, PATH: '' },
        toolDir: await folder('tools-missing'),
      }),
      TemporalCliErrorCode.BadEnvPath,
    );
    assert.match(error.message, /TEMPORAL_CLI_PATH/);
    assert.ok(error.message.includes(missing));
  });

  test('refuses a TEMPORAL_CLI_PATH file that is not executable', async () => {
    const plain = path.join(await folder('plain'), 'temporal');
    await writeFile(plain, 'not a program');
    await rejectsWith(
      resolveTemporalCli({
        env: { TEMPORAL_CLI_PATH: plain, PATH: '' },
        toolDir: await folder('tools-plain'),
      }),
      TemporalCliErrorCode.BadEnvPath,
    );
  });

  test('uses the executable TEMPORAL_CLI_PATH points at, before anything on PATH', async () => {
    const chosen = await executable(path.join(await folder('env'), 'my-temporal'), 'echo chosen');
    const onPath = await folder('env-path');
    await executable(path.join(onPath, 'temporal'), 'echo other');
    const cli = await resolveTemporalCli({
      env: { TEMPORAL_CLI_PATH: chosen, PATH: onPath },
      toolDir: await folder('tools-env'),
    });
    assert.deepEqual(cli, { path: chosen, source: 'env' });
  });

  test('finds temporal on PATH', async () => {
    const empty = await folder('path-empty');
    const bin = await folder('path-bin');
    const temporal = await executable(path.join(bin, 'temporal'), 'echo temporal');
    const cli = await resolveTemporalCli({
      env: { PATH: [empty, bin].join(path.delimiter) },
      toolDir: await folder('tools-path'),
    });
    assert.deepEqual(cli, { path: temporal, source: 'path' });
  });

  test('reuses the cached build in the tool folder', async () => {
    const toolDir = await folder('tools-cache');
    const cached = await executable(cachedBinaryPath(toolDir), 'echo cached');
    const cli = await resolveTemporalCli({ env: { PATH: '' }, toolDir, goFallbacks: [] });
    assert.deepEqual(cli, { path: cached, source: 'cache' });
  });

  test('says what to do when neither Go nor a binary is available', async () => {
    const error = await rejectsWith(
      resolveTemporalCli({ env: { PATH: '' }, toolDir: await folder('tools-none'), goFallbacks: [] }),
      TemporalCliErrorCode.NotFound,
    );
    assert.match(error.message, /neither Go nor a binary/);
    assert.match(error.message, /install the Temporal CLI/);
    assert.match(error.message, /TEMPORAL_CLI_PATH/);
    assert.match(error.message, /Go >= 1\.25/);
  });

  test('does not build when building is not allowed, even with Go present', async () => {
    const goDir = await folder('go-not-allowed');
    const calls = await fakeGo(goDir);
    const error = await rejectsWith(
      resolveTemporalCli({
        env: { PATH: goDir },
        toolDir: await folder('tools-not-allowed'),
        allowBuild: false,
      }),
      TemporalCliErrorCode.NotFound,
    );
    assert.match(error.message, /building it was not allowed/);
    await assert.rejects(stat(calls));
  });

  test('builds the pinned CLI with Go into the tool folder and reports progress', async () => {
    const goDir = await folder('go-build');
    const calls = await fakeGo(goDir);
    const toolDir = path.join(await folder('tools-build'), `temporal-cli-${TEMPORAL_CLI_VERSION}`);
    const lines: string[] = [];
    const cli = await resolveTemporalCli({
      env: { PATH: '' },
      toolDir,
      goFallbacks: [path.join(goDir, 'go')],
      onProgress: (line) => lines.push(line),
    });
    assert.deepEqual(cli, { path: cachedBinaryPath(toolDir), source: 'built' });
    const call = await readFile(calls, 'utf8');
    assert.ok(call.startsWith(`install ${TEMPORAL_CLI_PACKAGE}@${TEMPORAL_CLI_VERSION} `), call);
    assert.match(call, /CGO_ENABLED=0 GOFLAGS=-mod=mod/);
    assert.ok(!call.includes(`GOBIN=${toolDir} `), 'builds into a temp folder, not the final one');
    assert.match(lines[0] ?? '', /^building the Temporal CLI with Go \(first run only/);
    // Only the binary is left behind: no temp build folder, no lock.
    assert.deepEqual(await readdir(toolDir), ['temporal']);
    assert.deepEqual((await readdir(path.dirname(toolDir))).sort(), [path.basename(toolDir)]);

    const again = await resolveTemporalCli({
      env: { PATH: '' },
      toolDir,
      goFallbacks: [path.join(goDir, 'go')],
    });
    assert.equal(again.source, 'cache');
  });

  test('builds once when two resolvers race for a missing CLI', async () => {
    const goDir = await folder('go-race');
    const calls = await fakeGo(goDir, { delay: 1 });
    const toolDir = path.join(await folder('tools-race'), `temporal-cli-${TEMPORAL_CLI_VERSION}`);
    const options = { env: { PATH: goDir }, toolDir };
    const [first, second] = await Promise.all([resolveTemporalCli(options), resolveTemporalCli(options)]);
    assert.equal(first.path, second.path);
    assert.deepEqual([first.source, second.source].sort(), ['built', 'built']);
    assert.equal((await readFile(calls, 'utf8')).trim().split('\n').length, 1);
  });

  test('reports a failed Go build with its output and leaves no binary behind', async () => {
    const goDir = await folder('go-fail');
    await fakeGo(goDir, { fail: true });
    const toolDir = path.join(await folder('tools-fail'), `temporal-cli-${TEMPORAL_CLI_VERSION}`);
    const error = await rejectsWith(
      resolveTemporalCli({ env: { PATH: goDir }, toolDir }),
      TemporalCliErrorCode.BuildFailed,
    );
    assert.match(error.message, /exited with code 1/);
    assert.match(error.message, /requires go >= 1\.25\.0/);
    await assert.rejects(stat(cachedBinaryPath(toolDir)));
    assert.deepEqual(await readdir(path.dirname(toolDir)), []);
  });
});
