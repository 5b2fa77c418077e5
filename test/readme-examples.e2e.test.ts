// The README's examples run as written, in order (issue 13 item 7).
//
// How: every ```sh block of README.md right after the marker line `<!-- readme-test -->` is cut into steps (a
// command, with its `\` continuation lines, and the `# …` lines right under it: what the README says it answers).
// All steps run in order in ONE bash process, so variables one step sets ($AUTH, $AT, $AUDITOR_KEY) reach the
// next, against a fresh `chronicle start` (the embedded store, a temporary data directory, a free port, no
// dashboard) started through the package's own bin (bin/chronicle.js, what `npx chronicle` runs), with no
// CHRONICLE_BOOTSTRAP_KEY: the admin key is read from the banner the first start prints, as a user would.
// The only rewrites, both what a user does by hand: `localhost:4000` is the test's port, and the line
// `KEY=chr_…` gets the printed key. The shell's `curl` is wrapped to keep each call's status line and body (the
// call itself is unchanged, so pipes such as `| grep -o …` behave as in a terminal).
//
// What a step's `# …` lines promise, and how each is checked:
// - `# 201 {…}`: the step made exactly one HTTP call, it answered that status, and its JSON has that shape:
//   every object has exactly the keys shown (unless it shows `"…": "…"`: then at least those), every array the
//   elements shown (a trailing `"…"`: any more), strings and booleans and null equal (a string with `…` is a
//   pattern; `"…"` alone is any value), numbers are numbers (positions and timings vary).
// - other `# …` lines (a command's text output): each appears in its output, in order, with numbers, long hex
//   hashes and `…` matching any (the README's auditor example shows a larger ledger than the walkthrough's).
// Every step must exit 0, and a step that calls curl must show its answer. The verify steps run
// `npx chronicle verify`, so `npx chronicle` itself is exercised, from a folder inside the checkout.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort } from './support/nats.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const MARKER = '<!-- readme-test -->';

interface Step {
  /** 1-based, over all marked blocks. */
  index: number;
  /** README.md line of the command's first line. */
  line: number;
  command: string;
  /** `# 201 {…}`: the status and the JSON shown (undefined: a status alone). */
  answer?: { status: number; json?: unknown };
  /** Other `# …` lines: text the command prints. */
  text: string[];
}

/** The marked blocks' steps, in README order. */
function readmeSteps(readme: string): Step[] {
  const lines = readme.split('\n');
  const steps: Step[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== MARKER) continue;
    if (lines[i + 1] !== '```sh') throw new Error(`README.md:${i + 1}: ${MARKER} must be followed by a \`\`\`sh block`);
    let j = i + 2;
    let current: { line: number; command: string[]; comments: string[] } | undefined;
    const flush = () => {
      if (!current) return;
      steps.push(toStep(steps.length + 1, current.line, current.command.join('\n'), current.comments));
      current = undefined;
    };
    for (; j < lines.length && lines[j] !== '```'; j++) {
      const line = lines[j]!;
      if (line.trim() === '') { flush(); continue; }
      if (line.startsWith('#')) {
        if (!current) throw new Error(`README.md:${j + 1}: an answer line with no command above it`);
        current.comments.push(line.replace(/^# ?/, ''));
        continue;
      }
      if (current && current.comments.length === 0 && current.command.at(-1)!.endsWith('\\')) {
        current.command.push(line);
        continue;
      }
      flush();
      current = { line: j + 1, command: [line], comments: [] };
    }
    if (j >= lines.length) throw new Error(`README.md:${i + 2}: a marked block never ends`);
    flush();
    i = j;
  }
  return steps;
}

function toStep(index: number, line: number, command: string, comments: string[]): Step {
  const status = /^(\d{3})(?:\s+([\s\S]*))?$/.exec(comments[0] ?? '');
  if (!status) return { index, line, command, text: comments };
  const shown = [status[2] ?? '', ...comments.slice(1)].join('\n').trim();
  let json: unknown;
  if (shown !== '') {
    try {
      json = JSON.parse(shown);
    } catch (error) {
      throw new Error(`README.md:${line}: the answer shown is not JSON (${(error as Error).message}):\n${shown}`);
    }
  }
  return { index, line, command, answer: { status: Number(status[1]), ...(shown === '' ? {} : { json }) }, text: [] };
}

const ELLIPSIS = '…';
const patternOf = (shown: string) => new RegExp(`^${shown.split(ELLIPSIS).map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('[\\s\\S]*')}$`);

/** Where `actual` differs from the `shown` shape (see the header), as "path: what"; empty when it fits. */
function shapeDifferences(shown: unknown, actual: unknown, path = '$'): string[] {
  if (shown === ELLIPSIS) return [];
  if (typeof shown === 'string') {
    if (typeof actual !== 'string') return [`${path}: shown a string, got ${JSON.stringify(actual)}`];
    if (shown.includes(ELLIPSIS) ? !patternOf(shown).test(actual) : shown !== actual) return [`${path}: shown ${JSON.stringify(shown)}, got ${JSON.stringify(actual)}`];
    return [];
  }
  if (typeof shown === 'number') return typeof actual === 'number' ? [] : [`${path}: shown a number, got ${JSON.stringify(actual)}`];
  if (shown === null || typeof shown === 'boolean') return shown === actual ? [] : [`${path}: shown ${JSON.stringify(shown)}, got ${JSON.stringify(actual)}`];
  if (Array.isArray(shown)) {
    if (!Array.isArray(actual)) return [`${path}: shown an array, got ${JSON.stringify(actual)}`];
    const open = shown.length > 0 && shown.at(-1) === ELLIPSIS;
    const fixed = open ? shown.slice(0, -1) : shown;
    if (open ? actual.length < fixed.length : actual.length !== fixed.length) {
      return [`${path}: shown ${open ? 'at least ' : ''}${fixed.length} element(s), got ${actual.length}`];
    }
    return fixed.flatMap((element, i) => shapeDifferences(element, actual[i], `${path}[${i}]`));
  }
  if (typeof shown === 'object') {
    if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) return [`${path}: shown an object, got ${JSON.stringify(actual)}`];
    const shownKeys = Object.keys(shown).filter((key) => key !== ELLIPSIS);
    const open = ELLIPSIS in shown;
    const differences: string[] = [];
    for (const key of shownKeys) {
      if (!(key in actual)) differences.push(`${path}.${key}: shown, but not in the answer`);
      else differences.push(...shapeDifferences((shown as Record<string, unknown>)[key], (actual as Record<string, unknown>)[key], `${path}.${key}`));
    }
    if (!open) {
      for (const key of Object.keys(actual)) if (!shownKeys.includes(key)) differences.push(`${path}.${key}: in the answer, not shown`);
    }
    return differences;
  }
  return [`${path}: cannot compare ${JSON.stringify(shown)}`];
}

/** A line of text output as the README shows it, with numbers, long hex and `…` matching anything of theirs. */
function textPattern(shown: string): RegExp {
  const pattern = shown.split(/([0-9a-f]{16,}|\d+|…)/).map((part, i) => {
    if (i % 2 === 0) return part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    if (part === ELLIPSIS) return '.*';
    return /^\d+$/.test(part) ? '\\d+' : '[0-9a-f]+';
  });
  return new RegExp(pattern.join(''));
}

describe('README examples', () => {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const dataDir = mkdtempSync(join(tmpdir(), 'chronicle-readme-'));
  // Inside the checkout, so that `npx chronicle` finds the package's own bin (outside, npx would ask the
  // registry); test-results/ is git-ignored.
  mkdirSync(join(REPO_ROOT, 'test-results'), { recursive: true });
  const workDir = mkdtempSync(join(REPO_ROOT, 'test-results', 'readme-'));
  let ledger: ChildProcess | undefined;

  afterAll(async () => {
    if (ledger && ledger.exitCode === null && ledger.signalCode === null) {
      const exited = new Promise((resolve) => ledger!.once('exit', resolve));
      ledger.kill('SIGTERM');
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(workDir, { recursive: true, force: true });
  });

  it('finds the marked walkthrough, and no block that shows answers is left unmarked', () => {
    const steps = readmeSteps(readme);
    expect(steps.length).toBeGreaterThanOrEqual(30);
    // A block that shows `# 200 …` answers but carries no marker would never be checked.
    const unmarked: number[] = [];
    const lines = readme.split('\n');
    for (let i = 0; i < lines.length; i++) {
      if (lines[i] !== '```sh' || lines[i - 1]?.trim() === MARKER) continue;
      for (let j = i + 1; j < lines.length && lines[j] !== '```'; j++) {
        if (/^# \d{3}( |$)/.test(lines[j]!)) { unmarked.push(j + 1); break; }
      }
    }
    expect(unmarked, 'README.md lines with an answer in a block without the marker').toEqual([]);
  });

  it('runs every marked example in order against a fresh `chronicle start`, each answering as shown', async () => {
    const steps = readmeSteps(readme);
    const port = await freePort();

    // The ledger as `npx chronicle start` runs it (bin/chronicle.js), with a first-start key printed.
    const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: '127.0.0.1', DASHBOARD: 'off', CHRONICLE_DATA_DIR: dataDir, LOG_LEVEL: 'warn' };
    for (const name of ['DATABASE_URL', 'READ_DATABASE_URL', 'READ_REPLICA_URL', 'NATS_URL', 'CHRONICLE_BOOTSTRAP_KEY', 'CHRONICLE_AUTH_DISABLED_INSECURE', 'CHRONICLE_KEY']) delete env[name];
    ledger = spawn(process.execPath, [join(REPO_ROOT, 'bin', 'chronicle.js'), 'start'], { cwd: workDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    ledger.stdout!.on('data', (chunk) => (output += chunk));
    ledger.stderr!.on('data', (chunk) => (output += chunk));
    const deadline = Date.now() + 90_000;
    for (;;) {
      if (ledger.exitCode !== null) throw new Error(`chronicle start exited (${ledger.exitCode}):\n${output}`);
      const healthy = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.ok, () => false);
      if (healthy && /chr_[0-9a-f]{16}_[A-Za-z0-9_-]{43,}/.test(output)) break;
      if (Date.now() > deadline) throw new Error(`chronicle start not ready within 90 s:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const adminKey = /chr_[0-9a-f]{16}_[A-Za-z0-9_-]{43,}/.exec(output)![0];

    // One bash script: the wrapper, then each step with its output kept apart.
    const rewrite = (command: string) => command
      .replaceAll('localhost:4000', `127.0.0.1:${port}`)
      .replace(/^KEY=chr_…/m, `KEY=${adminKey}`);
    const script = [
      'set -u',
      'RT=.readme-test; mkdir -p "$RT"; echo 0 > "$RT/count"',
      // Each call's status line goes to a header file, its body to stdout (as curl's) and to a file.
      'curl() { local n; n=$(( $(cat "$RT/count") + 1 )); echo "$n" > "$RT/count"; echo "$STEP" > "$RT/curl-$n.step";',
      '  command curl -D "$RT/curl-$n.headers" "$@" | tee "$RT/curl-$n.body"; return "${PIPESTATUS[0]}"; }',
      ...steps.flatMap((step) => [
        `STEP=${step.index}`,
        `{ ${rewrite(step.command)}\n} > "$RT/step-${step.index}.out" 2> "$RT/step-${step.index}.err"`,
        `echo $? > "$RT/step-${step.index}.rc"`,
      ]),
    ].join('\n');
    writeFileSync(join(workDir, 'walkthrough.sh'), script);
    const bash = spawn('bash', ['walkthrough.sh'], { cwd: workDir, env: { ...process.env, CHRONICLE_KEY: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let bashOutput = '';
    bash.stdout.on('data', (chunk) => (bashOutput += chunk));
    bash.stderr.on('data', (chunk) => (bashOutput += chunk));
    const code = await new Promise<number | null>((resolve) => bash.once('exit', resolve));
    expect(code, bashOutput).toBe(0);

    // Which step made which calls.
    const rt = join(workDir, '.readme-test');
    const calls = new Map<number, { status: number; body: string }[]>();
    const callCount = Number(readFileSync(join(rt, 'count'), 'utf8'));
    for (let n = 1; n <= callCount; n++) {
      const step = Number(readFileSync(join(rt, `curl-${n}.step`), 'utf8'));
      const headers = existsSync(join(rt, `curl-${n}.headers`)) ? readFileSync(join(rt, `curl-${n}.headers`), 'utf8') : '';
      // The last status line (an interim 100 Continue may come first).
      const status = Number([...headers.matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)].at(-1)?.[1] ?? 0);
      calls.set(step, [...(calls.get(step) ?? []), { status, body: readFileSync(join(rt, `curl-${n}.body`), 'utf8') }]);
    }

    const failures: string[] = [];
    for (const step of steps) {
      const where = `README.md:${step.line} (${step.command.split('\n')[0]!.slice(0, 90)})`;
      const read = (ext: string) => readFileSync(join(rt, `step-${step.index}.${ext}`), 'utf8');
      const rc = Number(read('rc'));
      const out = read('out');
      if (rc !== 0) failures.push(`${where}: exit ${rc}\n${out}${read('err')}`);
      const made = calls.get(step.index) ?? [];
      if (step.answer) {
        if (made.length !== 1) { failures.push(`${where}: shows one answer but made ${made.length} HTTP call(s)`); continue; }
        const [{ status, body }] = made as [{ status: number; body: string }];
        if (status !== step.answer.status) failures.push(`${where}: answered ${status}, the README shows ${step.answer.status}\n${body}`);
        if ('json' in step.answer) {
          let actual: unknown;
          try { actual = JSON.parse(body); } catch { failures.push(`${where}: the answer is not JSON:\n${body}`); continue; }
          const differences = shapeDifferences(step.answer.json, actual);
          if (differences.length > 0) failures.push(`${where}: the answer differs from the README:\n  ${differences.join('\n  ')}\n  answer: ${body}`);
        }
      } else if (made.length > 0) {
        failures.push(`${where}: calls the API but shows no answer (add a "# <status> {…}" line under it)`);
      }
      // Text output: each shown line in order.
      const outLines = out.split('\n');
      let from = 0;
      for (const shown of step.text) {
        const pattern = textPattern(shown);
        const found = outLines.findIndex((line, i) => i >= from && pattern.test(line));
        if (found < 0) { failures.push(`${where}: prints no line like "${shown}" (in order); it printed:\n${out}${read('err')}`); break; }
        from = found + 1;
      }
    }
    expect(failures, failures.join('\n\n')).toEqual([]);
    // Nothing of the walkthrough was skipped: every step ran (a step that never ran has no exit code).
    expect(readdirSync(rt).filter((name) => name.endsWith('.rc'))).toHaveLength(steps.length);
  }, 300_000);
});
