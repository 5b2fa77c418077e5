#!/usr/bin/env node
// `chronicle`, package.json "bin": `npx chronicle <command>` inside the checkout.
//
// Runs the compiled CLI (dist/cli/main.js) when it is at least as new as every file under src/, and otherwise
// the TypeScript sources through tsx (a dev dependency), in this same process. So the command works right
// after `npm install`, before any build, and a dist/ left behind by an older checkout is never run by mistake
// (`npm start` and `npm run build` make a fresh one, which starts faster).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const compiled = join(root, 'dist', 'cli', 'main.js');
const sources = join(root, 'src');

/** The newest modification time of any file under `dir` (0 if there is none). */
function newestMtimeMs(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const mtimeMs = entry.isDirectory() ? newestMtimeMs(path) : statSync(path).mtimeMs;
    if (mtimeMs > newest) newest = mtimeMs;
  }
  return newest;
}

// tsc builds incrementally (tsconfig.build.json): it rewrites only what changed, and its build-info file
// every time it emits, so the newer of the two says when dist/ was last brought up to date.
const buildInfo = join(root, 'dist', '.tsbuildinfo');
const builtAt = () => Math.max(statSync(compiled).mtimeMs, existsSync(buildInfo) ? statSync(buildInfo).mtimeMs : 0);
const compiledIsFresh = existsSync(compiled) && (!existsSync(sources) || builtAt() >= newestMtimeMs(sources));

if (compiledIsFresh) {
  await import(pathToFileURL(compiled).href);
} else {
  let register;
  try {
    ({ register } = await import('tsx/esm/api'));
  } catch {
    console.error('chronicle: dist/ is missing or older than src/, and tsx is not installed to run the sources: run `npm install`, or `npm run build`');
    process.exit(1);
  }
  register();
  await import(pathToFileURL(join(sources, 'cli', 'main.ts')).href);
}
