/**
 * The folders of the tree form layers, and every import that loads code points down them. Type-only imports are
 * erased at compile time and load nothing: a workflow sees its activities' types that way, as the SDK intends.
 * `require.resolve` only names a file: the workflow bundle names the workflows that way for the bundler, which packs
 * them into the sandbox without loading them into the worker's own process.
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';

const ROOT = path.resolve(__dirname, '../..');

/** Lowest first: a folder may load code from the folders before it, never from those after it. */
const LAYERS = [
  'domain',
  'config',
  'services',
  'temporal',
  'workflows',
  'activities',
  'workers',
  'client',
  'local',
] as const;

interface Edge {
  from: string;
  to: string;
  file: string;
}

async function sourceFiles(folder: string): Promise<string[]> {
  const entries = await readdir(path.join(ROOT, folder), { recursive: true, withFileTypes: true });
  return entries
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => path.relative(ROOT, path.join(entry.parentPath, entry.name)));
}

/** Relative specifiers a file loads at run time: value imports, value re-exports and `require`. */
export function loadedSpecifiers(source: string): string[] {
  const specifiers: string[] = [];
  const statement = /^\s*(import|export)\s+(type\s+)?[^'";]*?from\s+'(\.[^']+)'/gm;
  for (const match of source.matchAll(statement)) {
    if (match[2] === undefined && match[3] !== undefined) specifiers.push(match[3]);
  }
  for (const match of source.matchAll(/\brequire\(\s*'(\.[^']+)'\s*\)/g)) {
    if (match[1] !== undefined) specifiers.push(match[1]);
  }
  return specifiers;
}

async function crossFolderEdges(): Promise<Edge[]> {
  const edges: Edge[] = [];
  for (const folder of LAYERS) {
    for (const file of await sourceFiles(folder)) {
      const source = await readFile(path.join(ROOT, file), 'utf8');
      for (const specifier of loadedSpecifiers(source)) {
        const to = path.relative(ROOT, path.resolve(ROOT, path.dirname(file), specifier)).split(path.sep)[0];
        if (to !== undefined && to !== folder) edges.push({ from: folder, to, file });
      }
    }
  }
  return edges;
}

describe('the layout', () => {
  test('reads a value import, and not a type import, as loading code', () => {
    const source = [
      "import { a } from '../x';",
      "import type { b } from '../y';",
      "export { c } from './z';",
      "export type { d } from './w';",
      "const v = require('../v');",
      "const p = require.resolve('../u');",
    ].join('\n');
    assert.deepEqual(loadedSpecifiers(source), ['../x', './z', '../v']);
  });

  test('every folder loads code only from the folders below it', async () => {
    const edges = await crossFolderEdges();
    assert.ok(edges.length > 20, `expected the folders to import each other, found ${edges.length} edges`);
    const rank = (folder: string) => LAYERS.indexOf(folder as (typeof LAYERS)[number]);
    const upward = edges
      .filter((edge) => rank(edge.to) === -1 || rank(edge.to) > rank(edge.from))
      .map((edge) => `${edge.file} loads ${edge.to}/`);
    assert.deepEqual(upward, []);
  });

  test('the real adapters in services/ load neither Temporal nor the local stand-ins', async () => {
    const offending: string[] = [];
    for (const file of await sourceFiles('services')) {
      const source = await readFile(path.join(ROOT, file), 'utf8');
      if (/from '@temporalio\//.test(source)) offending.push(`${file} imports @temporalio`);
    }
    assert.deepEqual(offending, []);
  });
});
