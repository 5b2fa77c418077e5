// A newcomer's first hour with the real CLI (issue 13 items 1, 2 and 5), as child processes (node --import tsx
// src/cli/main.ts): a start that fails on a taken port leaves no key behind, so the next start still shows
// one, keeps it in <data dir>/admin-key (mode 0600) and prints its banner after the "listening" lines;
// `keys` and `projections` run while `start` holds the data directory go through its API, or say in one line
// how to; and every runtime failure (database refused or missing, NATS refused, port taken, data directory
// in use) is one line on stderr, no stack trace, exit 1.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { CLI_MAIN } from './support/cli-main.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'chronicle-first-hour-'));
const dataDir = join(scratch, 'data');
// A stand-in for the dashboard's static export, so `start` serves it (and so binds DASHBOARD_PORT).
const dashboardDir = join(scratch, 'dashboard');
mkdirSync(dashboardDir);
writeFileSync(join(dashboardDir, 'index.html'), '<!doctype html><title>dashboard</title>');

/** The environment of a newcomer's `chronicle start`: embedded store, no chosen key, no dashboard. */
const BASE_ENV = {
  HOST: '127.0.0.1', LOG_LEVEL: 'info', CHRONICLE_DATA_DIR: dataDir, DATABASE_URL: '', READ_DATABASE_URL: '', NATS_URL: '',
  CHRONICLE_BOOTSTRAP_KEY: '', CHRONICLE_AUTH_DISABLED_INSECURE: '', DASHBOARD: 'off', DASHBOARD_DIR: dashboardDir,
};

const freePort = () => new Promise<number>((resolve, reject) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number };
    server.close(() => resolve(port));
  }).on('error', reject);
});

const occupy = () => new Promise<Server>((resolve, reject) => {
  const server = createServer().listen(0, '127.0.0.1', () => resolve(server)).on('error', reject);
});
const portOf = (server: Server) => (server.address() as { port: number }).port;

function chronicle(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], {
      cwd: REPO_ROOT, timeout: 90_000, env: { ...process.env, ...BASE_ENV, ...env },
    }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }));
  });
}

/** The one line a failure prints: exactly one non-empty stderr line, no stack frame. */
function oneLine(run: { code: number; stderr: string }): string {
  expect(run.code, run.stderr).toBe(1);
  const lines = run.stderr.split('\n').filter((l) => l.trim() !== '');
  expect(lines, run.stderr).toHaveLength(1);
  expect(run.stderr).not.toMatch(/^\s+at /m);
  expect(lines[0]).toMatch(/^chronicle: /);
  return lines[0]!;
}

const children: ChildProcess[] = [];
function startLedger(env: Record<string, string>): { child: ChildProcess; stdout: () => string } {
  let stdout = '';
  const child = spawn(process.execPath, [CLI_MAIN, 'start'], {
    cwd: REPO_ROOT, env: { ...process.env, ...BASE_ENV, ...env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stdout += d));
  return { child, stdout: () => stdout };
}

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(scratch, { recursive: true, force: true });
});

describe('chronicle start: the admin key is never lost', () => {
  let ledger: { child: ChildProcess; stdout: () => string } | undefined;
  let base = '';
  let port = 0;
  let key = '';

  it('a start refused its PORT or DASHBOARD_PORT stores no key; the next one prints it last and keeps it in a 0600 file', async () => {
    const taken = await occupy();
    try {
      const api = oneLine(await chronicle(['start'], { PORT: String(portOf(taken)) }));
      expect(api).toContain(`port ${portOf(taken)} (PORT) is already in use`);
      expect(api).toMatch(/another PORT/);
      const dashboard = oneLine(await chronicle(['start'], { PORT: String(await freePort()), DASHBOARD: 'on', DASHBOARD_PORT: String(portOf(taken)) }));
      expect(dashboard).toContain(`port ${portOf(taken)} (DASHBOARD_PORT) is already in use`);
    } finally {
      taken.close();
    }
    expect(existsSync(join(dataDir, 'admin-key'))).toBe(false);
    // Not even its lock is left behind.
    expect(existsSync(join(dataDir, 'chronicle.lock'))).toBe(false);

    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    const dashboardPort = await freePort();
    ledger = startLedger({ PORT: String(port), DASHBOARD: 'on', DASHBOARD_PORT: String(dashboardPort) });
    const output = ledger.stdout;
    await expect.poll(() => output(), { timeout: 90_000, interval: 200 }).toMatch(/No API key existed[\s\S]*={80}\n/);
    const generated = /^    (chr_[0-9a-f]{16}_[A-Za-z0-9_-]{43})$/m.exec(output());
    expect(generated, output()).not.toBeNull();
    key = generated![1]!;

    const file = join(dataDir, 'admin-key');
    expect(readFileSync(file, 'utf8').trim()).toBe(key);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const banner = output().lastIndexOf('No API key existed');
    expect(output().slice(banner)).toContain(`kept in ${file}`);
    expect(output().slice(banner)).toContain(`http://localhost:${dashboardPort}/#key=${key}`);
    // The banner comes after the lines that say where things listen.
    expect(output().indexOf('listening on')).toBeGreaterThan(-1);
    expect(output().indexOf('listening on')).toBeLessThan(banner);
    expect(output().indexOf('dashboard on')).toBeGreaterThan(-1);
    expect(output().indexOf('dashboard on')).toBeLessThan(banner);

    const whoami = await fetch(`${base}/whoami`, { headers: { authorization: `Bearer ${key}` } });
    expect(whoami.status).toBe(200);
    expect(await whoami.json()).toMatchObject({ role: 'admin' });
  }, 240_000);

  it('keys and projections while start holds the data directory: through its API, or one line saying how', async () => {
    expect(ledger, 'the previous test started the ledger').toBeDefined();
    const list = await chronicle(['keys', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stderr).toContain(`through its API at ${base}`);
    expect((JSON.parse(list.stdout) as { keys: unknown[] }).keys).toHaveLength(1);

    // A new admin key while the ledger runs.
    const created = await chronicle(['keys', 'create', '--role', 'admin', '--name', 'second admin']);
    expect(created.code, created.stderr).toBe(0);
    const second = (JSON.parse(created.stdout) as { key: string }).key;
    const whoami = await fetch(`${base}/whoami`, { headers: { authorization: `Bearer ${second}` } });
    expect(await whoami.json()).toMatchObject({ role: 'admin' });

    const projections = await chronicle(['projections', 'list']);
    expect(projections.code, projections.stderr).toBe(0);
    expect((JSON.parse(projections.stdout) as { projections: { name: string }[] }).projections.map((p) => p.name)).toEqual(['accounts']);

    // Without the key file, the command cannot act for the user: it says exactly how.
    const file = join(dataDir, 'admin-key');
    renameSync(file, `${file}.away`);
    try {
      const pid = ledger!.child.pid!;
      for (const args of [['keys', 'list'], ['keys', 'create', '--role', 'reader', '--name', 'r'], ['projections', 'list'], ['projections', 'rebuild', 'accounts']]) {
        const line = oneLine(await chronicle(args));
        expect(line).toContain(`the ledger is running (pid ${pid} on this data directory`);
        expect(line).toContain(`--url ${base} --api-key <admin key>`);
        expect(line).toContain('POST /keys');
      }
      // With --url and --api-key it works from anywhere.
      const explicit = await chronicle(['keys', 'list', '--url', base, '--api-key', second]);
      expect(explicit.code, explicit.stderr).toBe(0);
      expect((JSON.parse(explicit.stdout) as { keys: unknown[] }).keys).toHaveLength(2);
      const rebuilt = await chronicle(['projections', 'rebuild', 'accounts', '--api-key', second]);
      expect(rebuilt.code, rebuilt.stderr).toBe(0);
      // A revoked key through the API: one line naming the 401.
      const revoke = await chronicle(['keys', 'revoke', second.slice(4, 20), '--url', base, '--api-key', key]);
      expect(revoke.code, revoke.stderr).toBe(0);
      await new Promise((r) => setTimeout(r, 100));
      expect(oneLine(await chronicle(['keys', 'list', '--url', base, '--api-key', second]))).toMatch(/answered 401/);
    } finally {
      renameSync(`${file}.away`, file);
    }
  }, 240_000);

  it('a second start on the same data directory: one line naming the process that holds it', async () => {
    const line = oneLine(await chronicle(['start'], { PORT: String(await freePort()) }));
    expect(line).toContain(`in use by process ${ledger!.child.pid}`);
    expect(line).toContain('CHRONICLE_DATA_DIR');

    // A restart prints no key again, and says where the first one is kept.
    ledger!.child.kill('SIGTERM');
    await new Promise((resolve) => ledger!.child.once('exit', resolve));
    const again = startLedger({ PORT: String(port) });
    await expect.poll(() => again.stdout(), { timeout: 90_000, interval: 200 }).toContain('is kept in this file');
    expect(again.stdout()).not.toMatch(/chr_[0-9a-f]{16}_/);
    expect((await fetch(`${base}/whoami`, { headers: { authorization: `Bearer ${key}` } })).status).toBe(200);
    again.child.kill('SIGTERM');
    await new Promise((resolve) => again.child.once('exit', resolve));
  }, 240_000);
});

const pgUp = await postgresAvailable();

describe.skipIf(!pgUp)('runtime failures are one line with what to do next', () => {
  const dirs = { CHRONICLE_DATA_DIR: join(scratch, 'pg-data') };
  let database: TestDatabase | undefined;
  afterAll(async () => {
    await database?.drop();
  });

  it('DATABASE_URL to a closed port', async () => {
    const closed = await freePort();
    const line = oneLine(await chronicle(['start'], { ...dirs, PORT: String(await freePort()), DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/chronicle` }));
    expect(line).toContain(`cannot reach PostgreSQL at 127.0.0.1:${closed} (DATABASE_URL): connection refused`);
    expect(line).toMatch(/Start it, or fix DATABASE_URL/);
  }, 120_000);

  it('DATABASE_URL to a database that does not exist', async () => {
    const line = oneLine(await chronicle(['start'], { ...dirs, PORT: String(await freePort()), DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/chronicle_no_such_database' }));
    expect(line).toContain('database "chronicle_no_such_database" does not exist');
    expect(line).toContain('createdb -h 127.0.0.1 -p 5432 chronicle_no_such_database');
  }, 120_000);

  it('NATS_URL to a closed port', async () => {
    database = await createTestDatabase();
    const closed = await freePort();
    const line = oneLine(await chronicle(['start'], { ...dirs, PORT: String(await freePort()), DATABASE_URL: database.url, NATS_URL: `nats://127.0.0.1:${closed}` }));
    expect(line).toContain(`cannot reach NATS at 127.0.0.1:${closed} (NATS_URL): connection refused`);
    expect(line).toMatch(/fix NATS_URL/);
  }, 120_000);

  it('keys against a database that refuses: the same one line', async () => {
    const closed = await freePort();
    const line = oneLine(await chronicle(['keys', 'list'], { ...dirs, DATABASE_URL: `postgres://postgres@127.0.0.1:${closed}/chronicle` }));
    expect(line).toContain(`cannot reach PostgreSQL at 127.0.0.1:${closed}`);
  }, 120_000);
});
