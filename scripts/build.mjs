#!/usr/bin/env node
// `npm run build`: the TypeScript of the runtime folders compiled to JavaScript in dist/node (dist/console is the
// console's, scripts/build-console.mjs), and the workflow bundles the compiled worker loads. Production and the
// image run this output with plain node; tsx stays a development tool.
//
// The sources import each other without extensions (moduleResolution "bundler"), which Node's ESM loader does not
// resolve; tsc emits specifiers as written, so each relative one is completed here to the file tsc wrote for it.
// A specifier that names no emitted file fails the build rather than the first process that loads it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'node');
const started = Date.now();

rmSync(out, { recursive: true, force: true });
const tsc = spawnSync(
  process.execPath,
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
  {
    cwd: root,
    stdio: 'inherit',
  },
);
if (tsc.status !== 0) {
  console.error('[build] tsc failed');
  process.exit(1);
}

function* jsFiles(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* jsFiles(path);
    else if (entry.name.endsWith('.js')) yield path;
  }
}

// tsc prints each import and export declaration on one line: `import ... from './x';`, `import './x';`; dynamic
// imports in code read `import('./x')`. Only those places are rewritten, never a string that looks like one.
const declaration = /^((?:import|export)\b[^\n]*?\bfrom\s*|import\s*)(['"])([^'"\n]+)\2;$/gm;
const dynamic = /(\bimport\(\s*)(['"])(\.{1,2}\/[^'"\n]+)\2(?=\s*\))/g;
const problems = [];
let files = 0;
for (const file of jsFiles(out)) {
  files += 1;
  const where = relative(root, file);
  const text = readFileSync(file, 'utf8');
  const complete = (match, lead, quote, spec) => {
    if (!spec.startsWith('./') && !spec.startsWith('../')) {
      // A path into a package without an exports map (`@temporalio/common/lib/...`) must name a file for Node.
      let resolved;
      try {
        resolved = import.meta.resolve(spec);
      } catch (error) {
        problems.push(`${where}: ${spec} does not resolve (${error.code ?? error.message})`);
        return match;
      }
      if (resolved.startsWith('file:') && !statSync(fileURLToPath(resolved), { throwIfNoEntry: false })?.isFile()) {
        problems.push(`${where}: ${spec} is not a file (Node's loader imports no directory)`);
      }
      return match;
    }
    if (/\.(m?js|json)$/.test(spec)) return match;
    const target = resolve(dirname(file), spec);
    const completed = existsSync(`${target}.js`)
      ? `${spec}.js`
      : existsSync(join(target, 'index.js')) && statSync(target).isDirectory()
        ? `${spec}/index.js`
        : undefined;
    if (completed === undefined) {
      problems.push(`${where}: ${spec} names no compiled file`);
      return match;
    }
    return `${lead}${quote}${completed}${quote}`;
  };
  const fixed = text.replace(declaration, complete).replace(dynamic, complete);
  if (fixed !== text) writeFileSync(file, fixed);
}
if (problems.length > 0) {
  console.error(`[build] unresolved imports:\n  ${problems.join('\n  ')}`);
  process.exit(1);
}

// The compiled worker loads these instead of bundling workflows/ at start (worker/worker.ts, workflowCode).
const { writeWorkflowBundles } = await import(pathToFileURL(join(out, 'worker', 'worker.js')).href);
const bundles = await writeWorkflowBundles();
// bin/leadline.js runs the compiled CLI only while no source is newer than this (worker/... edited since: tsx).
writeFileSync(join(out, 'BUILT'), `${new Date().toISOString()}\n`);
console.log(
  `[build] compiled ${files} files into dist/node and ${bundles.length} workflow bundles ` +
    `in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
