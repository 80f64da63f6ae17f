/**
 * Builds a release: the sources compiled to JavaScript under `<dir>/js` (with the files they read at run time,
 * such as the AML watchlist) and the workflow bundle at `<dir>/workflow-bundle.js`. A worker of the release then
 * runs on plain node, without tsx or the bundler:
 * `WORKFLOW_BUNDLE_PATH=<dir>/workflow-bundle.js node <dir>/js/workers/main.js`.
 * Usage: `npm run build [-- <dir>] [--include <folder>]...`, default `dist`; `--include` compiles another folder's
 * code too (the benchmark includes `bench`). The directory must sit inside the project, so the compiled files find
 * `node_modules`.
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { untracedBundleFile, writeWorkflowBundles } from '../temporal/bundle';

const execFileAsync = promisify(execFile);
const PROJECT_ROOT = path.resolve(__dirname, '..');
/** The folders a release is compiled from (`tsconfig.build.json` lists the same, for `tsc -p` by hand). */
const SOURCE_DIRS = [
  'domain',
  'workflows',
  'activities',
  'services',
  'temporal',
  'config',
  'workers',
  'client',
  'local',
];

/** Every file below `dir` that the compiler does not emit for: data the code reads beside itself. */
async function assetsBelow(dir: string): Promise<string[]> {
  const entries = await readdir(path.join(PROJECT_ROOT, dir), { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && !entry.name.endsWith('.ts'))
    .map((entry) => path.relative(PROJECT_ROOT, path.join(entry.parentPath, entry.name)));
}

function parseBuildArgs(args: string[]) {
  return parseArgs({
    args,
    allowPositionals: true,
    options: { include: { type: 'string', multiple: true } },
  });
}

async function step<T>(what: string, run: () => Promise<T>): Promise<T> {
  const started = performance.now();
  process.stdout.write(`${what} … `);
  const result = await run();
  console.log(`done (${Math.round(performance.now() - started)} ms)`);
  return result;
}

async function main(): Promise<void> {
  const usage = 'usage: npm run build [-- <dir>] [--include <folder>]...';
  let parsed: ReturnType<typeof parseBuildArgs>;
  try {
    parsed = parseBuildArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${usage}; ${error instanceof Error ? error.message : String(error)}`);
    process.exit(2);
  }
  const [dir = 'dist', ...rest] = parsed.positionals;
  if (rest.length > 0) {
    console.error(`${usage}; unexpected "${rest.join(' ')}"`);
    process.exit(2);
  }
  const sourceDirs = [...SOURCE_DIRS, ...(parsed.values.include ?? [])];
  const outDir = path.resolve(dir);
  const relative = path.relative(PROJECT_ROOT, outDir);
  if (relative === '' || relative.startsWith('..')) {
    console.error(
      `build: ${outDir} must be a folder inside the project, so the compiled files find node_modules`,
    );
    process.exit(2);
  }
  const jsDir = path.join(outDir, 'js');
  const bundleFile = path.join(outDir, 'workflow-bundle.js');

  // A fresh folder, so a source deleted since the last build leaves no stale module behind.
  await rm(jsDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  // The compiler options are tsconfig.build.json's; only the folders and the output vary.
  const tsconfig = path.join(outDir, 'tsconfig.json');
  await writeFile(
    tsconfig,
    JSON.stringify({
      extends: path.join(PROJECT_ROOT, 'tsconfig.build.json'),
      compilerOptions: { outDir: jsDir, rootDir: PROJECT_ROOT },
      include: sourceDirs.map((source) => path.join(PROJECT_ROOT, source)),
    }),
  );
  await step(`compiling ${sourceDirs.join(', ')} to ${path.relative(PROJECT_ROOT, jsDir)}`, async () => {
    try {
      await execFileAsync(process.execPath, [require.resolve('typescript/bin/tsc'), '-p', tsconfig], {
        cwd: PROJECT_ROOT,
      });
    } catch (error) {
      const output = error instanceof Error && 'stdout' in error ? String(error.stdout) : '';
      throw new Error(`the TypeScript compiler failed:\n${output}`, { cause: error });
    }
  });
  // Included folders are compiled for their code alone; the release's data files live in its own folders.
  const assets = (await Promise.all(SOURCE_DIRS.map(assetsBelow))).flat();
  await step(`copying ${assets.length} data file(s)`, () =>
    Promise.all(assets.map((file) => cp(path.join(PROJECT_ROOT, file), path.join(jsDir, file)))),
  );
  await step(
    `bundling the workflows to ${path.relative(PROJECT_ROOT, bundleFile)} (traced) and ` +
      `${path.relative(PROJECT_ROOT, untracedBundleFile(bundleFile))}`,
    () => writeWorkflowBundles(bundleFile),
  );
  console.log(
    `release built in ${path.relative(PROJECT_ROOT, outDir) || '.'}; run a worker with ` +
      `WORKFLOW_BUNDLE_PATH=${bundleFile} node ${path.join(jsDir, 'workers', 'main.js')}`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
