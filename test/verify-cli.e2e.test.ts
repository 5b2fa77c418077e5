// `chronicle verify` never answers wrong because of where it runs (issue 13 item 4, and verify's parts of
// items 2 and 5), as the real CLI: a verifier creates no store and no key (the directories it was pointed at
// still do not exist afterwards), refuses a missing or empty ledger instead of saying OK, trusts the public
// keys the store records (or --public-key), never a private key, and says which. A PostgreSQL ledger keeps
// its own key (never the embedded store's), and a process with another key refuses to start unless the
// rotation is explicit. Runtime failures are one line saying what to do, never a stack trace.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigner } from '../src/adapters/audit/signing-key.js';
import { generateApiKey } from '../src/application/api-keys.js';
import { CLI_ADMIN_KEY, CLI_AUTHORIZATION, spawnCli, type CliProcess } from './support/cli-process.js';
import { CLI_MAIN } from './support/cli-main.js';
import { freePort } from './support/nats.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { copyPgliteTemplate } from './support/stores.js';

const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));
const pgUp = await postgresAvailable();

interface Run { code: number; stdout: string; stderr: string; output: string }

/** `chronicle <args>` run from `cwd`, with nothing of the ledger's configuration but `env`. */
function chronicle(cwd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], {
      cwd, timeout: 90_000,
      env: {
        ...process.env, DATABASE_URL: '', CHRONICLE_DATA_DIR: '', CHRONICLE_SIGNING_KEY: '', CHRONICLE_SIGNING_KEY_FILE: '',
        CHRONICLE_SIGNING_KEY_ROTATE: '', LOG_LEVEL: 'warn', DASHBOARD: 'off', ...env,
      },
    }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr, output: stdout + stderr }));
  });
}

/** A refusal: exit 2, one line on stderr naming `text`, no stack trace. */
function expectOneLine(run: Run, text: string | RegExp): void {
  expect(run.code, run.output).toBe(2);
  const lines = run.stderr.trim().split('\n');
  expect(lines, run.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^chronicle verify: /);
  if (typeof text === 'string') expect(lines[0]).toContain(text);
  else expect(lines[0]).toMatch(text);
  expect(run.output).not.toMatch(/^\s+at /m);
  expect(run.output).not.toMatch(/^OK/m);
}

const scratch = mkdtempSync(join(tmpdir(), 'chronicle-verify-cli-'));
/** A new, empty directory: "the wrong current directory". */
const elsewhere = (name: string) => {
  const dir = join(scratch, name);
  mkdirSync(dir);
  return dir;
};
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

async function waitForCheckpoint(base: string, treeSize: number, authorization = CLI_AUTHORIZATION): Promise<{ keyId: string }> {
  const end = Date.now() + 30_000;
  for (;;) {
    const response = await fetch(`${base}/audit/checkpoint`, { headers: { authorization } });
    const body = response.ok ? await response.json() as { treeSize: number; keyId: string } : null;
    if (body && body.treeSize >= treeSize) return body;
    if (Date.now() > end) throw new Error(`no checkpoint of size ${treeSize} on ${base}: ${JSON.stringify(body)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function post(base: string, url: string, payload: object): Promise<void> {
  const response = await fetch(`${base}${url}`, { method: 'POST', headers: { authorization: CLI_AUTHORIZATION, 'content-type': 'application/json' }, body: JSON.stringify(payload) });
  expect(response.status, await response.clone().text()).toBe(201);
}

describe('chronicle verify refuses what it cannot verify, creating nothing', () => {
  it('in a directory without a ledger (no DATABASE_URL): "no ledger at <dir>", exit 2, and no directory, store or key created', async () => {
    const cwd = elsewhere('wrong-cwd');
    const run = await chronicle(cwd, ['verify']);
    expectOneLine(run, `no ledger at ${join(cwd, '.chronicle')}`);
    expect(run.stderr).toContain('set CHRONICLE_DATA_DIR to it (or DATABASE_URL for a PostgreSQL ledger)');
    expect(run.stderr).toContain('or verify over HTTP with --url <ledger API>');
    expect(existsSync(join(cwd, '.chronicle'))).toBe(false);
    expect(readdirSync(cwd)).toEqual([]);
    // Pointed at a directory that does not exist: still nothing made.
    const missing = join(scratch, 'no-such-dir');
    expectOneLine(await chronicle(cwd, ['verify'], { CHRONICLE_DATA_DIR: missing }), `no ledger at ${missing}`);
    expect(existsSync(missing)).toBe(false);
  }, 60_000);

  it('on an embedded store with no events: refused (exit 2), never OK, and no signing key made', async () => {
    const dataDir = join(scratch, 'empty-store');
    const migrated = await chronicle(REPO_ROOT, ['migrate'], { CHRONICLE_DATA_DIR: dataDir });
    expect(migrated.code, migrated.output).toBe(0);
    const run = await chronicle(elsewhere('empty-cwd'), ['verify'], { CHRONICLE_DATA_DIR: dataDir });
    expectOneLine(run, `the ledger at ${dataDir} holds no events: nothing to verify`);
    // Neither migrate (a one-shot that signs nothing) nor verify made a key.
    expect(existsSync(join(dataDir, 'signing-key.pem'))).toBe(false);
    expect(existsSync(join(dataDir, 'signing-keys'))).toBe(false);
  }, 120_000);

  it('a --since file that does not exist, and --url to an API that is not there: one line each, saying what to do', async () => {
    const cwd = elsewhere('errors-cwd');
    const since = join(scratch, 'nowhere', 'checkpoint.json');
    expectOneLine(await chronicle(cwd, ['verify', '--since', since]), `--since ${since}: no such file (the checkpoint.json a previous chronicle verify --save wrote)`);
    const port = await freePort(); // nothing listens on it
    const down = await chronicle(cwd, ['verify', '--url', `http://127.0.0.1:${port}`]);
    expectOneLine(down, `cannot reach the ledger API at http://127.0.0.1:${port} (ECONNREFUSED): is it running, and is --url its address?`);
    expect(readdirSync(cwd)).toEqual([]);
  }, 60_000);
});

describe.skipIf(!pgUp)('a PostgreSQL ledger: its own key, recorded in the database, found by a verifier anywhere', () => {
  let db: TestDatabase;
  let empty: TestDatabase;
  const processes: CliProcess[] = [];
  const dataDir = join(scratch, 'pg-ledger');
  const embeddedKey = generateSigner();
  let api: CliProcess;
  let keyId: string;
  let publicKey: string;

  beforeAll(async () => {
    [db, empty] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    // The embedded store's key in the same data directory: a PostgreSQL ledger must not pick it up.
    mkdirSync(dataDir, { recursive: true });
    writeFileSync(join(dataDir, 'signing-key.pem'), embeddedKey.pem, { mode: 0o600 });
    api = spawnCli('ledger-api', await freePort(), { DATABASE_URL: db.url, CHRONICLE_DATA_DIR: dataDir, CHRONICLE_CHECKPOINT_INTERVAL_MS: '200', LOG_LEVEL: 'warn' });
    processes.push(api);
    await api.healthy(60_000);
    await post(api.base, '/commands/create-account', { accountId: 'V1', owner: 'Verify', currency: 'EUR' });
    await post(api.base, '/commands/deposit', { accountId: 'V1', amount: '250' });
    await post(api.base, '/commands/deposit', { accountId: 'V1', amount: '5' });
    keyId = (await waitForCheckpoint(api.base, 3)).keyId;
    publicKey = (await (await fetch(`${api.base}/audit/public-key`, { headers: { authorization: CLI_AUTHORIZATION } })).json() as { publicKey: string }).publicKey;
  }, 120_000);
  afterAll(async () => {
    await Promise.all(processes.map((p) => p.signal('SIGKILL')));
    await Promise.all([db?.drop(), empty?.drop()]);
  });

  it('keeps its generated key in <data dir>/signing-keys/<keyId>.pem, not the embedded store\'s signing-key.pem', async () => {
    const served = await (await fetch(`${api.base}/audit/public-key`, { headers: { authorization: CLI_AUTHORIZATION } })).json() as { keyId: string };
    expect(served.keyId).toBe(keyId);
    expect(keyId).not.toBe(embeddedKey.signer.keyId);
    expect(readdirSync(join(dataDir, 'signing-keys'))).toEqual([`${keyId}.pem`]);
  });

  it('verify with DATABASE_URL from another directory: OK on the untouched ledger, trusting the key the database records, creating nothing', async () => {
    const cwd = elsewhere('pg-verify-cwd');
    const run = await chronicle(cwd, ['verify'], { DATABASE_URL: db.url });
    expect(run.code, run.output).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^note: trusting key ${keyId} \\(recorded [^)]+\\) from the store's record of its signing keys`, 'm'));
    expect(run.stdout).toMatch(/^OK: every chain, leaf and signed root checks out/m);
    expect(run.output).not.toContain('checkpoint_signature_invalid');
    expect(readdirSync(cwd)).toEqual([]);
  }, 60_000);

  it('verify on a database with no ledger in it: refused, and the database is left without a table', async () => {
    const cwd = elsewhere('pg-empty-cwd');
    expectOneLine(await chronicle(cwd, ['verify'], { DATABASE_URL: empty.url }), /no ledger in postgres:\/\/.*: it has no events table/);
    const client = new pg.Client({ connectionString: empty.url });
    await client.connect();
    try {
      expect((await client.query(`SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'`)).rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
    expect(readdirSync(cwd)).toEqual([]);
  }, 60_000);

  it('verify --url without a key, with an unknown key, or with a key that may not audit: one line telling how to get an auditor key', async () => {
    const cwd = elsewhere('url-cwd');
    const advice = 'pass --api-key with an auditor key: chronicle keys create --role auditor';
    const none = await chronicle(cwd, ['verify', '--url', api.base]);
    expectOneLine(none, advice);
    expect(none.stderr).toContain('401');
    const unknown = await chronicle(cwd, ['verify', '--url', api.base, '--api-key', generateApiKey().key]);
    expectOneLine(unknown, advice);
    expect(unknown.stderr).toContain('the key given is unknown or revoked');
    const made = await fetch(`${api.base}/keys`, {
      method: 'POST', headers: { authorization: CLI_AUTHORIZATION, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'a writer', role: 'writer' }),
    });
    expect(made.status).toBe(201);
    const writer = await chronicle(cwd, ['verify', '--url', api.base, '--api-key', (await made.json() as { key: string }).key]);
    expectOneLine(writer, advice);
    expect(writer.stderr).toContain('403');
    const ok = await chronicle(cwd, ['verify', '--url', api.base, '--api-key', CLI_ADMIN_KEY]);
    expect(ok.code, ok.output).toBe(0);
    expect(ok.stdout).toContain(`note: trusting key ${keyId}, fetched from the ledger being verified`);
  }, 90_000);

  it('a ledger process without the key (another data directory), or with another key, refuses to start; an explicit rotation is recorded and verifies', async () => {
    const otherDir = join(scratch, 'pg-other-dir');
    const keyless = spawnCli('ledger-api', await freePort(), { DATABASE_URL: db.url, CHRONICLE_DATA_DIR: otherDir, LOG_LEVEL: 'warn' });
    processes.push(keyless);
    await keyless.exited;
    expect(keyless.child.exitCode, keyless.output()).toBe(1);
    expect(keyless.output()).toContain(`this database's checkpoints are signed with key ${keyId}, whose private key is not at ${join(otherDir, 'signing-keys', `${keyId}.pem`)}: set CHRONICLE_SIGNING_KEY_FILE`);
    expect(keyless.output()).not.toMatch(/^\s+at /m);
    expect(existsSync(join(otherDir, 'signing-keys'))).toBe(false);

    const otherKey = join(dataDir, 'signing-key.pem'); // the embedded store's key: not this ledger's
    const wrong = spawnCli('ledger-api', await freePort(), { DATABASE_URL: db.url, CHRONICLE_SIGNING_KEY_FILE: otherKey, LOG_LEVEL: 'warn' });
    processes.push(wrong);
    await wrong.exited;
    expect(wrong.child.exitCode, wrong.output()).toBe(1);
    expect(wrong.output()).toContain(`key ${embeddedKey.signer.keyId} is not this ledger's signing key: its checkpoints are signed with key ${keyId}`);
    expect(wrong.output()).toContain('CHRONICLE_SIGNING_KEY_ROTATE=on');

    // Rotation, on purpose: the new key is recorded next; the old process stops so the new one seals.
    const rotated = spawnCli('ledger-api', await freePort(), {
      DATABASE_URL: db.url, CHRONICLE_SIGNING_KEY_FILE: otherKey, CHRONICLE_SIGNING_KEY_ROTATE: 'on', CHRONICLE_CHECKPOINT_INTERVAL_MS: '200', LOG_LEVEL: 'warn',
    });
    processes.push(rotated);
    await rotated.healthy(60_000);
    await api.signal('SIGTERM');
    await post(rotated.base, '/commands/deposit', { accountId: 'V1', amount: '7' });
    expect((await waitForCheckpoint(rotated.base, 4)).keyId).toBe(embeddedKey.signer.keyId);
    const run = await chronicle(elsewhere('rotated-cwd'), ['verify'], { DATABASE_URL: db.url });
    expect(run.code, run.output).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^note: trusting keys ${keyId} \\(recorded [^)]+\\), ${embeddedKey.signer.keyId} \\(recorded`, 'm'));
    expect(run.stdout).toMatch(/^OK: /m);
    // A verifier with only the old key's copy is told the newest checkpoint is another key's.
    const oldOnly = await chronicle(REPO_ROOT, ['verify', '--public-key', publicKey], { DATABASE_URL: db.url });
    expect(oldOnly.code, oldOnly.output).toBe(1);
    expect(oldOnly.stdout).toContain(`FAIL checkpoint_signature_invalid: checkpoint of size 4 names key ${embeddedKey.signer.keyId}, not ${keyId}`);
  }, 180_000);
});

describe('chronicle verify on an embedded data directory', () => {
  const dataDir = join(scratch, 'embedded');
  let ledger: CliProcess | undefined;
  afterAll(async () => {
    await ledger?.signal('SIGKILL');
  });

  it('while `chronicle start` holds it: one line "the ledger is running: use --url"; through the API, or once stopped, OK with the recorded key', async () => {
    // A copy of a migrated store (test/support/stores.ts), not a first start: what is tested here comes after,
    // and the child skips an initdb of several seconds.
    await copyPgliteTemplate(dataDir);
    ledger = spawnCli('start', await freePort(), { CHRONICLE_DATA_DIR: dataDir, DATABASE_URL: '', NATS_URL: '', CHRONICLE_CHECKPOINT_INTERVAL_MS: '200', LOG_LEVEL: 'warn' });
    await ledger.healthy(90_000);
    await post(ledger.base, '/commands/create-account', { accountId: 'E1', owner: 'Embedded', currency: 'EUR' });
    await post(ledger.base, '/commands/deposit', { accountId: 'E1', amount: '10' });
    const { keyId } = await waitForCheckpoint(ledger.base, 2);

    const cwd = elsewhere('embedded-cwd');
    const locked = await chronicle(cwd, ['verify'], { CHRONICLE_DATA_DIR: dataDir });
    // The running ledger's own address, from the data directory's lock (not a guess from PORT).
    expectOneLine(locked, `(process ${ledger.child.pid}): verify it through its API: chronicle verify --url ${ledger.base} --api-key <auditor key>`);

    const viaApi = await chronicle(cwd, ['verify', '--url', ledger.base, '--api-key', CLI_ADMIN_KEY]);
    expect(viaApi.code, viaApi.output).toBe(0);
    expect(viaApi.stdout).toMatch(/^OK: /m);

    await ledger.signal('SIGTERM');
    const stopped = await chronicle(cwd, ['verify'], { CHRONICLE_DATA_DIR: dataDir });
    expect(stopped.code, stopped.output).toBe(0);
    expect(stopped.stdout).toContain(`note: trusting key ${keyId} (recorded`);
    expect(stopped.stdout).toMatch(/^OK: /m);
    expect(readdirSync(cwd)).toEqual([]);
  }, 180_000);
});
