// `chronicle start` stops within SHUTDOWN_TIMEOUT_MS whatever its stdout does (issue 10, item 11): with a
// stdout pipe nobody drains (it fills, and logging used to block the process in write(2), so SIGTERM was
// never handled), with a stdout pipe the reader closed (EPIPE must neither crash nor hang it), and with a
// request that never completes holding the server's close up (the shutdown then forces itself, status 1).
// Each test spawns the real CLI (dist/cli/main.js, embedded PGlite in a fresh directory, no dashboard) and
// signals only its own child, by pid. The directory is a copy of a migrated template (test/support/stores.ts):
// what is tested starts after the store opens, and the child then skips an initdb of several seconds.
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { connect } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { generateApiKey } from '../src/application/api-keys.js';
import { freePort } from './support/nats.js';
import { CLI_MAIN } from './support/cli-main.js';
import { pgliteDataDir } from './support/stores.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const SHUTDOWN_TIMEOUT_MS = 2_000;

interface Started {
  child: ChildProcess;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; afterSignalMs: number }>;
  signalAt: { ms: number };
  dir: string;
}
const started: Started[] = [];

// A port the OS says is free (a fixed one may be some other socket's: the ephemeral range covers it).
async function startCli(env: Record<string, string>): Promise<Started> {
  const port = await freePort();
  const dir = await pgliteDataDir('chronicle-shutdown-');
  const child = spawn(process.execPath, [CLI_MAIN, 'start'], {
    cwd: REPO_ROOT,
    env: { ...process.env, HOST: '127.0.0.1', PORT: String(port), DASHBOARD: 'off', CHRONICLE_DATA_DIR: dir, LOG_LEVEL: 'info', SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS), ...env },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const signalAt = { ms: 0 };
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; afterSignalMs: number }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal, afterSignalMs: Date.now() - signalAt.ms })));
  const s = { child, port, exited, signalAt, dir };
  started.push(s);
  return s;
}

afterEach(async () => {
  for (const s of started.splice(0)) {
    if (s.child.exitCode === null && s.child.signalCode === null) {
      s.child.kill('SIGKILL');
      await s.exited;
    }
    rmSync(s.dir, { recursive: true, force: true });
  }
});

async function healthy({ port, child }: Started, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before it was healthy on ${port}`);
    try {
      if ((await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(2_000) })).status === 200) return;
    } catch { /* not yet */ }
    if (Date.now() > end) throw new Error(`not healthy on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Requests that each log lines; how many were answered (stops at the first that is not, within 1 s). */
async function chatter(port: number, n: number): Promise<number> {
  let answered = 0;
  for (let i = 0; i < n; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/health?padding=${'x'.repeat(500)}`, { signal: AbortSignal.timeout(1_000) });
      answered++;
    } catch {
      break;
    }
  }
  return answered;
}

/** SIGTERM, then how it ended; SIGKILL (and a failing expectation) if it outlives the bound by far. */
async function terminate(s: Started): Promise<{ code: number | null; signal: NodeJS.Signals | null; afterSignalMs: number }> {
  s.signalAt.ms = Date.now();
  s.child.kill('SIGTERM');
  const killer = setTimeout(() => s.child.kill('SIGKILL'), SHUTDOWN_TIMEOUT_MS + 8_000);
  try {
    return await s.exited;
  } finally {
    clearTimeout(killer);
  }
}

describe('chronicle start stops within SHUTDOWN_TIMEOUT_MS', () => {
  it('with a stdout pipe nobody reads: requests are still answered, and SIGTERM ends it', async () => {
    const s = await startCli({});
    s.child.stdout!.pause(); // the pipe fills and stays full
    await healthy(s);
    // Enough log lines to fill the pipe many times over (each request logs two lines of over 500 bytes).
    expect(await chatter(s.port, 600)).toBe(600);
    const end = await terminate(s);
    expect(end.signal).toBeNull();
    expect(end.afterSignalMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 1_000);
  }, 120_000);

  it('with a stdout pipe its reader closed: EPIPE neither crashes nor hangs it', async () => {
    const s = await startCli({});
    s.child.stdout!.resume();
    await healthy(s);
    s.child.stdout!.destroy(); // the read end is closed: every write now fails with EPIPE
    expect(await chatter(s.port, 200)).toBe(200);
    expect(s.child.exitCode).toBeNull();
    const end = await terminate(s);
    expect(end).toMatchObject({ code: 0, signal: null });
    expect(end.afterSignalMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 1_000);
  }, 120_000);

  it('a request that never completes cannot hold the shutdown: it forces itself, status 1, within the bound', async () => {
    const key = generateApiKey().key;
    const s = await startCli({ CHRONICLE_BOOTSTRAP_KEY: key, REQUEST_TIMEOUT_MS: '120000', HEADERS_TIMEOUT_MS: '60000' });
    s.child.stdout!.resume();
    await healthy(s);
    // A body dripped a byte a second: the request stays in flight, and the server's close waits for it.
    const socket = connect(s.port, '127.0.0.1');
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(`POST /commands/deposit HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${key}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{\r\n`);
    const drip = setInterval(() => socket.write('1\r\n \r\n'), 1_000);
    try {
      await new Promise((r) => setTimeout(r, 500));
      const end = await terminate(s);
      expect(end).toMatchObject({ code: 1, signal: null });
      expect(end.afterSignalMs).toBeGreaterThanOrEqual(SHUTDOWN_TIMEOUT_MS - 100);
      expect(end.afterSignalMs).toBeLessThan(SHUTDOWN_TIMEOUT_MS + 1_500);
    } finally {
      clearInterval(drip);
      socket.destroy();
    }
  }, 120_000);
});
