// The embedded default end to end: `chronicle start` as its own process on a real port with a PGlite data
// directory, stopped with SIGTERM and started again: every event is still there. Also refuses a second
// process on the same data directory. Authentication is on by default: the first start prints a generated
// admin key, once; the restart prints none and the key still works.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI_MAIN } from './support/cli-main.js';

const freePort = () => new Promise<number>((resolve, reject) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  }).on('error', reject);
});

function startLedger(dataDir: string, port: number): { child: ChildProcess; output: () => string } {
  let output = '';
  const child = spawn(process.execPath, [CLI_MAIN, 'start'], {
    env: { ...process.env, CHRONICLE_DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn', DATABASE_URL: '', CHRONICLE_BOOTSTRAP_KEY: '', CHRONICLE_AUTH_DISABLED_INSECURE: '', DASHBOARD: 'off' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout!.on('data', (d) => (output += d));
  child.stderr!.on('data', (d) => (output += d));
  return { child, output: () => output };
}

async function waitForHealth(base: string, child: ChildProcess, deadlineMs = 60_000) {
  const end = Date.now() + deadlineMs;
  while (Date.now() < end) {
    if (child.exitCode !== null) throw new Error(`ledger exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/health`)).ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error('ledger did not become healthy');
}

const stop = (child: ChildProcess) => new Promise<number | null>((resolve) => {
  if (child.exitCode !== null) return resolve(child.exitCode);
  child.once('exit', (code) => resolve(code));
  child.kill('SIGTERM');
});

describe('chronicle start (embedded PGlite)', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'chronicle-e2e-'));
  const children: ChildProcess[] = [];
  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('serves over a real port, keeps every event across a restart, and locks its data directory', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const first = startLedger(dataDir, port);
    children.push(first.child);
    await waitForHealth(base, first.child);

    const generated = /^    (chr_[0-9a-f]{16}_[A-Za-z0-9_-]{43})$/m.exec(first.output());
    expect(generated, first.output()).not.toBeNull();
    const key = generated![1]!;
    const authorization = `Bearer ${key}`;
    const fetch = (url: string, init: RequestInit = {}) => globalThis.fetch(url, { ...init, headers: { authorization, ...init.headers as Record<string, string> } });
    const post = (path: string, body: unknown) => fetch(`${base}${path}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    // Without the key: refused.
    const anonymous = await globalThis.fetch(`${base}/accounts`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Bearer/);
    expect((await post('/commands/create-account', { accountId: 'P1', owner: 'Persist', currency: 'GBP' })).status).toBe(201);
    const deposit = await post('/commands/deposit', { accountId: 'P1', amount: '1234' });
    expect(deposit.status).toBe(201);
    const { globalPosition } = await deposit.json() as { globalPosition: number };
    // The whole flow runs in the one process: store → relay → in-process bus → read processor → read model.
    expect(await (await fetch(`${base}/accounts/P1/balance?minPosition=${globalPosition}`)).json())
      .toMatchObject({ balance: '1234', freshness: { status: 'reached' } });
    const bad = await post('/commands/deposit', { accountId: 'P1', amount: 1.5 });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe('amount_fractional');
    const eventsBefore = await (await fetch(`${base}/streams/$all`)).json();

    // A second process on the same directory is refused, and the first keeps serving.
    const intruder = startLedger(dataDir, await freePort());
    children.push(intruder.child);
    const intruderExit = await new Promise<number | null>((resolve) => intruder.child.once('exit', resolve));
    expect(intruderExit).not.toBe(0);
    expect(intruder.output()).toMatch(/in use by process/);

    expect(await stop(first.child)).toBe(0);

    const second = startLedger(dataDir, port);
    children.push(second.child);
    await waitForHealth(base, second.child);
    // A key exists: nothing is generated or printed this time.
    expect(second.output()).not.toMatch(/chr_[0-9a-f]{16}_/);
    // The read model persisted beside the events: the balance is there at once, no replay needed.
    expect(await (await fetch(`${base}/accounts/P1/balance?minPosition=${globalPosition}&maxWaitMs=0`)).json())
      .toMatchObject({ balance: '1234', currency: 'GBP', version: 2, freshness: { status: 'reached' } });
    expect(await (await fetch(`${base}/streams/$all`)).json()).toEqual(eventsBefore);
    expect(await stop(second.child)).toBe(0);
  }, 180_000);
});
