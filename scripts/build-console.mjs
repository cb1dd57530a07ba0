#!/usr/bin/env node
// Builds the console (client/console) into dist/console: one JavaScript bundle, its stylesheet and the page.
// `npm install` runs it (postinstall), and so does the test set-up; the API only serves the files it finds, so
// nothing is compiled while the system runs. Deterministic: the same sources give the same bytes.
import { build } from 'esbuild';
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'client', 'console');
const target = join(root, 'dist', 'console');

export async function buildConsole({ quiet = false } = {}) {
  mkdirSync(target, { recursive: true });
  const result = await build({
    entryPoints: [join(source, 'main.tsx')],
    outfile: join(target, 'console.js'),
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: true,
    legalComments: 'linked',
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: join(source, 'tsconfig.json'),
    logLevel: quiet ? 'error' : 'warning',
    metafile: true,
  });
  for (const file of ['index.html', 'console.css']) copyFileSync(join(source, file), join(target, file));
  const bytes = Object.values(result.metafile.outputs).reduce((sum, o) => sum + o.bytes, 0);
  if (!quiet) console.log(`[console] built dist/console (${Math.round(bytes / 1024)} KiB with source maps)`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  buildConsole().catch((error) => {
    console.error(`[console] build failed: ${error.message}`);
    process.exit(1);
  });
}
