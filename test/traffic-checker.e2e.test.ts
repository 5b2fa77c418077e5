// `chronicle simulate-traffic` and `chronicle verify-consistency` (issue 12 item 2), the real CLI against a
// real split ledger: two `ledger-api` processes (the first seals), a query-api, a relay and a read processor
// on one PostgreSQL database, a read store and one JetStream stream. The traffic runs for a few seconds
// through both APIs (given as one comma-separated --url); the checker must then say OK with its figures.
// Then the negative controls, each of which must make it exit 1 and name the failure:
// - a journal line claiming an acknowledgement for an event that does not exist;
// - a duplicate message published into the JetStream stream;
// - a read-model row altered in SQL;
// and two journal lines that must NOT fail it: an "unknown" whose retry shows it had been applied, and an
// "unknown" that had never been applied (the checker's retry applies it; counted as resolved).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jetstream } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { trafficCommand, type TrafficCommand } from '../src/cli/traffic/command.js';
import { parseJournal, type JournalCommand } from '../src/cli/traffic/journal.js';
import { CLI_ADMIN_KEY, spawnCli, type CliProcess } from './support/cli-process.js';
import { deleteStreams, freePort, natsAdmin, natsAvailable, NATS_TEST_URL, uniqueBusNames } from './support/nats.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { expectEveryCheckPassed } from './support/consistency.js';
import { testSeed } from './support/seeded-random.js';
import { CLI_MAIN } from './support/cli-main.js';

const servicesUp = (await postgresAvailable()) && (await natsAvailable());
const REPO_ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Run { code: number; stdout: string; stderr: string }

function chronicle(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI_MAIN, ...args], {
      cwd: REPO_ROOT, env: { ...process.env, ...env }, timeout: 90_000, maxBuffer: 16 * 1024 * 1024,
    }, (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : -1) : 0, stdout, stderr }));
  });
}

/** The same command in this process (what the CLI runs, minus its ~2 s of start-up on a loaded machine). */
async function inProcess(command: TrafficCommand, args: string[]): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await trafficCommand(command, args, { out: (l) => out.push(l), err: (l) => err.push(l), env: {} });
  return { code, stdout: `${out.join('\n')}\n`, stderr: err.join('\n') };
}

describe.skipIf(!servicesUp)('simulate-traffic and verify-consistency against a split ledger', () => {
  const seed = testSeed();
  const scratch = mkdtempSync(join(tmpdir(), 'chronicle-traffic-'));
  const journal = join(scratch, 'journal.jsonl');
  const { streamName, subjectPrefix } = uniqueBusNames();
  let eventDb: TestDatabase;
  let readDb: TestDatabase;
  const processes: CliProcess[] = [];
  let apis: CliProcess[] = [];
  let query: CliProcess;
  /** A third ledger-api, killed under load in the failover test. */
  let victim: CliProcess;
  const verifyArgs = (journalFile: string) => [
    '--url', apis.map((a) => a.base).join(','), '--query-url', query.base, '--journal', journalFile,
    '--nats', NATS_TEST_URL, '--stream', streamName,
  ];

  beforeAll(async () => {
    [eventDb, readDb] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    const env = {
      DATABASE_URL: eventDb.url, READ_DATABASE_URL: readDb.url, NATS_URL: NATS_TEST_URL, NATS_STREAM: streamName,
      NATS_SUBJECT_PREFIX: subjectPrefix, LOG_LEVEL: 'warn', PG_POOL_MAX: '6', CHRONICLE_DATA_DIR: join(scratch, 'data'),
      CHRONICLE_CHECKPOINT_INTERVAL_MS: '300',
    };
    const start = async (role: string, extra: Record<string, string> = {}) => {
      const p = spawnCli(role, await freePort(), { ...env, ...extra });
      processes.push(p);
      await p.healthy(60_000);
      return p;
    };
    apis = [await start('ledger-api')]; // the first migrates and seals
    const [second, third, q] = await Promise.all([start('ledger-api', { CHRONICLE_SEALER: 'off' }), start('ledger-api', { CHRONICLE_SEALER: 'off' }),
      start('query-api'), start('relay'), start('read-processor')]);
    apis.push(second!);
    victim = third!;
    query = q!;
  }, 120_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.signal('SIGKILL')));
    const admin = await natsAdmin().catch(() => null);
    if (admin) {
      await deleteStreams(admin.jsm, [streamName]);
      await admin.close();
    }
    await Promise.all([eventDb?.drop(), readDb?.drop()]);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('refuses bad arguments with one line and exit 2', async () => {
    const empty = join(scratch, 'empty.jsonl');
    writeFileSync(empty, '');
    const run = await chronicle(['simulate-traffic', '--url', 'ftp://x', '--key', 'k', '--clients', '1', '--seconds', '1', '--journal', journal]);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toEqual(['chronicle simulate-traffic: --url: ftp://x is not an http(s) URL (--help for usage)']);
    for (const args of [
      ['--url', apis[0]!.base, '--key', 'k', '--journal', '/nonexistent'],
      ['--url', 'http://127.0.0.1:1', '--key', 'k', '--journal', empty],
      ['--url', apis[0]!.base, '--key', 'k', '--journal', empty, '--clients', '2'],
      ['--url', apis[0]!.base, '--journal', journal],
    ]) {
      const bad = await inProcess('verify-consistency', args);
      expect(bad.code, args.join(' ')).toBe(2);
      expect(bad.stderr.split('\n'), args.join(' ')).toHaveLength(1);
    }
    const noLedger = await inProcess('simulate-traffic', ['--url', 'http://127.0.0.1:1', '--key', 'k', '--clients', '1', '--seconds', '1', '--journal', join(scratch, 'none.jsonl')]);
    expect([noLedger.code, noLedger.stderr]).toEqual([2, 'chronicle simulate-traffic: no ledger answers at http://127.0.0.1:1']);
  }, 30_000);

  let commands: JournalCommand[] = [];
  /** The journal the later checks read: the run's, plus the unknowns the checker has resolved (applied) since. */
  let current = journal;

  it('runs 8 clients for 4 s through both APIs, journaling every command with its outcome', async () => {
    const run = await chronicle([
      'simulate-traffic', '--url', apis.map((a) => a.base).join(','), '--clients', '8', '--seconds', '4', '--accounts', '10',
      '--currencies', 'EUR,USD', '--journal', journal, '--seed', String(seed),
    ], { CHRONICLE_KEY: CLI_ADMIN_KEY });
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/\[\d+s\] sent \d+ acked \d+ refused \d+ unknown \d+ in-flight \d+ acks\/s [\d.]+ longest-gap \d+ms/);
    expect(run.stdout).toMatch(/longest write gap \d+ ms: last ack before \S+Z, first ack after \S+Z/);
    const lines = readFileSync(journal, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { kind: string });
    expect(lines[0]!.kind).toBe('start');
    expect(lines.at(-1)!.kind).toBe('end');
    commands = lines.filter((l): l is JournalCommand => l.kind === 'command');
    // A low bar: on a loaded 2-core machine the two APIs have served under 100 commands in these 4 s.
    expect(commands.filter((c) => c.outcome === 'acknowledged').length).toBeGreaterThan(30);
    // Some withdrawals and transfers are refused for insufficient funds: part of the test.
    expect(commands.some((c) => c.outcome === 'refused' && c.code === 'insufficient_funds'), `seed ${seed}`).toBe(true);
    expect(commands.filter((c) => c.outcome === 'unknown')).toEqual([]);
    expect(new Set(commands.map((c) => c.key)).size).toBe(commands.length);
    console.log(run.stdout);
  }, 60_000);

  it('verifies it consistent, every check passing, with the figures', async () => {
    const run = await chronicle(['verify-consistency', ...verifyArgs(journal), '--key', CLI_ADMIN_KEY]);
    console.log(run.stdout);
    expect(run.code, `${run.stdout}${run.stderr}`).toBe(0);
    expectEveryCheckPassed(run.stdout);
  }, 60_000);

  it('resolves journaled unknowns by retrying them with their key: applied before, or applied by the retry', async () => {
    const acked = commands.find((c) => c.outcome === 'acknowledged' && c.type === 'Deposit')!;
    const unknownButApplied = { ...acked, outcome: 'unknown', error: 'timeout' } as Record<string, unknown>;
    for (const k of ['status', 'commandId', 'eventIds', 'globalPosition', 'replayed']) delete unknownButApplied[k];
    const neverSent = { ...unknownButApplied, key: `${acked.key}-never-sent`, body: { ...acked.body, amount: '7' } };
    const file = join(scratch, 'unknowns.jsonl');
    const text = readFileSync(journal, 'utf8').split('\n').filter((l) => !l.includes(`"key":"${acked.key}"`)).join('\n');
    writeFileSync(file, `${text}\n${JSON.stringify(unknownButApplied)}\n${JSON.stringify(neverSent)}\n`);
    const run = await inProcess('verify-consistency', [...verifyArgs(file), '--key', CLI_ADMIN_KEY]);
    expect(run.code, `${run.stdout}${run.stderr}`).toBe(0);
    expect(run.stdout).toContain(`retried ${acked.key} (Deposit): applied_before`);
    expect(run.stdout).toContain(`retried ${acked.key}-never-sent (Deposit): applied_by_retry`);
    expect(run.stdout).toMatch(/^PASS unknown_resolved: 2 unknown outcomes retried with their key: 1 had been applied, 1 applied by the retry/m);
    current = file;
  }, 60_000);

  it('goes on through the other API when one is SIGKILLed, stops on SIGINT with a complete journal, which then verifies', async () => {
    const file = join(scratch, 'interrupted.jsonl');
    const child = spawn(process.execPath, [CLI_MAIN, 'simulate-traffic', '--url', `${victim.base},${apis[0]!.base}`,
      '--clients', '6', '--seconds', '120', '--accounts', '4', '--journal', file, '--seed', String(seed)], {
      cwd: REPO_ROOT, env: { ...process.env, CHRONICLE_KEY: CLI_ADMIN_KEY }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    const trafficSoFar = () => {
      try {
        return parseJournal(readFileSync(file, 'utf8')).commands.filter((c) => c.client >= 0).length;
      } catch {
        return 0;
      }
    };
    // Once traffic flows, kill one of the two APIs (half the clients start on it); once 15 more commands are
    // answered, interrupt the run.
    await expect.poll(trafficSoFar, { timeout: 30_000, interval: 100 }).toBeGreaterThan(5);
    await victim.signal('SIGKILL');
    const atKill = trafficSoFar();
    await expect.poll(trafficSoFar, { timeout: 30_000, interval: 100 }).toBeGreaterThan(atKill + 15);
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    const written = parseJournal(readFileSync(file, 'utf8'));
    expect(written.end?.summary['interrupted']).toBe(true);
    expect(written.commands.length).toBe(written.end?.summary['commands']);
    expect(written.end?.summary['noAnswer'], stdout).toBeGreaterThan(0); // the killed API's connections
    expect(stdout).toMatch(/interrupted/);
    console.log(stdout);
    const run = await inProcess('verify-consistency', [...verifyArgs(file), '--key', CLI_ADMIN_KEY]);
    console.log(run.stdout);
    expect(run.code, run.stdout).toBe(0);
  }, 60_000);

  it('fails on a journaled acknowledgement whose event does not exist, naming it', async () => {
    const forged = { ...commands.find((c) => c.outcome === 'acknowledged' && c.type === 'Withdraw')! };
    forged.key = `${forged.key}-forged`;
    forged.eventIds = ['00000000-0000-4000-8000-000000000001'];
    forged.commandId = '00000000-0000-4000-8000-000000000002';
    const file = join(scratch, 'forged.jsonl');
    writeFileSync(file, `${readFileSync(current, 'utf8')}${JSON.stringify(forged)}\n`);
    const run = await inProcess('verify-consistency', [...verifyArgs(file), '--key', CLI_ADMIN_KEY]);
    expect(run.code, run.stdout).toBe(1);
    expect(run.stdout).toMatch(/^FAIL acknowledged_once: /m);
    expect(run.stdout).toContain(`${forged.key} (Withdraw): acknowledged event 00000000-0000-4000-8000-000000000001 is not in $all`);
    expect(run.stdout).toMatch(/^VERDICT: FAILED \(1 of 9 checks: acknowledged_once\)/m);
    const json = await inProcess('verify-consistency', [...verifyArgs(file), '--key', CLI_ADMIN_KEY, '--json']);
    expect(json.code).toBe(1);
    const report = JSON.parse(json.stdout) as { ok: boolean; checks: { name: string; status: string; failures: string[] }[] };
    expect(report.ok).toBe(false);
    expect(report.checks.filter((c) => c.status !== 'pass').map((c) => [c.name, c.failures.length])).toEqual([['acknowledged_once', 1]]);
  }, 60_000);

  it('fails on a duplicate message in the JetStream stream, naming the event', async () => {
    const nc = await connect({ servers: NATS_TEST_URL });
    let duplicated: string;
    try {
      const js = jetstream(nc);
      const first = await (await js.streams.get(streamName)).getMessage({ seq: 5 });
      duplicated = first!.json<{ eventId: string }>().eventId;
      // Another message id, so the stream's deduplication does not drop it: as a relay that lost its place would.
      await js.publish(first!.subject, first!.data, { msgID: `dup-${duplicated}` });
    } finally {
      await nc.close();
    }
    const run = await inProcess('verify-consistency', [...verifyArgs(current), '--key', CLI_ADMIN_KEY]);
    expect(run.code, run.stdout).toBe(1);
    expect(run.stdout).toMatch(/^FAIL jetstream: /m);
    expect(run.stdout).toMatch(new RegExp(`event ${duplicated} is in the stream 2 times \\(seq 5, \\d+\\)`));
    expect(run.stdout).toMatch(/^VERDICT: FAILED \(\d of 9 checks: .*jetstream/m);
    expect(run.stdout).toMatch(/^PASS read_model: /m);
  }, 60_000);

  it('fails on a read-model row altered in SQL, naming the account', async () => {
    const db = new pg.Client({ connectionString: readDb.url });
    await db.connect();
    let accountId: string;
    try {
      const { rows } = await db.query<{ account_id: string }>('UPDATE account_balance SET balance = balance + 1 WHERE account_id = (SELECT min(account_id) FROM account_balance) RETURNING account_id');
      accountId = rows[0]!.account_id;
    } finally {
      await db.end();
    }
    const run = await inProcess('verify-consistency', [...verifyArgs(current), '--key', CLI_ADMIN_KEY]);
    console.log(run.stdout);
    expect(run.code, run.stdout).toBe(1);
    expect(run.stdout).toMatch(/^FAIL read_model: /m);
    expect(run.stdout).toMatch(new RegExp(`- ${accountId}: the query API says balance \\d+`));
    expect(run.stdout).toMatch(/^FAIL money_conserved: .*\n.*the query API's balances add up to/m);
  }, 60_000);
});
