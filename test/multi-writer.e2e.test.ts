// Several writer processes on one database are exactly as correct as one. Three `chronicle ledger-api`
// processes (the first seals, the other two with CHRONICLE_SEALER=off), a relay and a read processor, all the
// real CLI, on one PostgreSQL database and one JetStream stream. 16 clients send transfers among a few
// accounts (so every pair of writers keeps meeting on the same streams) and deposits, alternating between
// the three APIs, half of them with an Idempotency-Key that is sent twice at once to two different APIs.
// The traffic is seeded (TEST_SEED replays it). Then:
// - $all lists every stream's versions in order, and positions run 1..n with no gap;
// - `chronicle verify` (the public key only) reports no finding: chains, leaves, checkpoints;
// - every keyed request was applied once: both answers name the same command, and one set of events exists;
// - money is conserved, and no balance is negative;
// - the read processor applied everything with zero redeliveries and no dead letter (a stream out of order
//   in $all made it redeliver: 187 times in the run the issue reports), and the read model equals the one
//   computed from $all; the JetStream stream holds $all exactly, in order.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEventStore } from '../src/adapters/event-store/open-store.js';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import type { SqlClient } from '../src/adapters/event-store/sql/sql-client.js';
import type { SqlEventStore } from '../src/adapters/event-store/sql/sql-event-store.js';
import { metricValue, parseMetrics } from '../src/adapters/metrics/prometheus-text.js';
import { SqlReadModel } from '../src/adapters/read-model/sql-read-model.js';
import type { RecordedEvent } from '../src/ports/event-store.js';
import { CLI_ADMIN_KEY, CLI_AUTHORIZATION, spawnCli, type CliProcess } from './support/cli-process.js';
import { deleteStreams, freePort, natsAdmin, natsAvailable, NATS_TEST_URL, readStreamMessages, uniqueBusNames } from './support/nats.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { allEvents, expectedModel } from './support/read-model-expectations.js';
import { seededRandom } from './support/seeded-random.js';
import { CLI_MAIN } from './support/cli-main.js';

const servicesUp = (await postgresAvailable()) && (await natsAvailable());
const ACCOUNTS = ['mw-a', 'mw-b', 'mw-c', 'mw-d'];
const OPENING_BALANCE = 1_000n;
const CLIENTS = 16;
const LOAD_MS = 6_000;

interface Answer { status: number; body: any }

async function post(base: string, path: string, body: object, idempotencyKey?: string): Promise<Answer> {
  const response = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { authorization: CLI_AUTHORIZATION, 'content-type': 'application/json', ...(idempotencyKey ? { 'idempotency-key': idempotencyKey } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: response.status, body: await response.json() };
}

describe.skipIf(!servicesUp)('three writer processes on one database', () => {
  const random = seededRandom();
  const seedNote = `(replay with TEST_SEED=${random.seed})`;
  const scratch = mkdtempSync(join(tmpdir(), 'chronicle-multi-writer-'));
  const { streamName, subjectPrefix } = uniqueBusNames();
  let eventDb: TestDatabase;
  let readDb: TestDatabase;
  let store: SqlEventStore;
  let readSql: SqlClient;
  const processes: CliProcess[] = [];
  let apis: CliProcess[] = [];
  let readProcessor: CliProcess;
  const keyed: { key: string; answers: Answer[] }[] = [];
  let deposited = 0n;
  const statuses = new Map<number, number>();

  beforeAll(async () => {
    [eventDb, readDb] = await Promise.all([createTestDatabase(), createTestDatabase()]);
    const env = {
      DATABASE_URL: eventDb.url, READ_DATABASE_URL: readDb.url, NATS_URL: NATS_TEST_URL, NATS_STREAM: streamName,
      NATS_SUBJECT_PREFIX: subjectPrefix, LOG_LEVEL: 'warn', PG_POOL_MAX: '6', CHRONICLE_DATA_DIR: join(scratch, 'data'),
      CHRONICLE_BOOTSTRAP_KEY: CLI_ADMIN_KEY, CHRONICLE_CHECKPOINT_INTERVAL_MS: '500',
    };
    const start = async (role: string, extra: Record<string, string> = {}) => {
      const p = spawnCli(role, await freePort(), { ...env, ...extra });
      processes.push(p);
      await p.healthy(60_000);
      return p;
    };
    apis = [await start('ledger-api')]; // the first migrates and seals
    apis.push(...await Promise.all([start('ledger-api', { CHRONICLE_SEALER: 'off' }), start('ledger-api', { CHRONICLE_SEALER: 'off' })]));
    await start('relay');
    readProcessor = await start('read-processor');
    store = await openEventStore({ kind: 'postgres', url: eventDb.url, poolMax: 2 });
    readSql = createPostgresClient({ connectionString: readDb.url, poolMax: 2 });
  }, 180_000);

  afterAll(async () => {
    await Promise.all(processes.map((p) => p.signal('SIGKILL')));
    await store?.close();
    await readSql?.close();
    const admin = await natsAdmin().catch(() => null);
    if (admin) {
      await deleteStreams(admin.jsm, [streamName]);
      await admin.close();
    }
    await Promise.all([eventDb?.drop(), readDb?.drop()]);
    rmSync(scratch, { recursive: true, force: true });
  });

  it('serves 16 clients alternating between the writers, every command answered 201 or 422', async () => {
    for (const [i, accountId] of ACCOUNTS.entries()) {
      expect((await post(apis[i % apis.length]!.base, '/commands/create-account', { accountId, owner: accountId, currency: 'EUR' })).status).toBe(201);
      expect((await post(apis[(i + 1) % apis.length]!.base, '/commands/deposit', { accountId, amount: String(OPENING_BALANCE) })).status).toBe(201);
      deposited += OPENING_BALANCE;
    }
    const end = Date.now() + LOAD_MS;
    let sent = 0;
    await Promise.all(Array.from({ length: CLIENTS }, async (_, client) => {
      const withKeys = client % 2 === 0;
      for (let n = 0; Date.now() < end; n++) {
        const api = apis[(client + n) % apis.length]!.base;
        const other = apis[(client + n + 1) % apis.length]!.base;
        const from = random.pick(ACCOUNTS);
        let to = random.pick(ACCOUNTS);
        while (to === from) to = random.pick(ACCOUNTS);
        const deposit = random.next() < 0.2;
        const [path, body] = deposit
          ? ['/commands/deposit', { accountId: to, amount: '1' }] as const
          : ['/commands/transfer', { fromAccountId: from, toAccountId: to, amount: String(random.int(1, 50)) }] as const;
        sent++;
        if (withKeys) {
          const key = `mw-${random.seed}-${client}-${n}`;
          const answers = await Promise.all([post(api, path, body, key), post(other, path, body, key)]);
          keyed.push({ key, answers });
          for (const a of answers) statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
          if (deposit && answers[0]!.status === 201) deposited += 1n;
        } else {
          const answer = await post(api, path, body);
          statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
          if (deposit && answer.status === 201) deposited += 1n;
        }
      }
    }));
    expect(sent).toBeGreaterThan(100);
    expect([...statuses.keys()].filter((s) => s !== 201 && s !== 422), `${JSON.stringify([...statuses])} ${seedNote}`).toEqual([]);
    expect(statuses.get(201) ?? 0).toBeGreaterThan(100);
  }, 60_000);

  let events: RecordedEvent[] = [];

  it('lists every stream in version order in $all, with positions 1..n and no gap', async () => {
    events = await allEvents(store);
    expect(events.map((e) => e.globalPosition)).toEqual(events.map((_, i) => i + 1));
    const next = new Map<string, number>();
    const outOfOrder = events.filter((e) => {
      const ok = e.streamVersion === (next.get(e.streamId) ?? 0) + 1;
      next.set(e.streamId, e.streamVersion);
      return !ok;
    });
    expect(outOfOrder.map((e) => `${e.streamId} v${e.streamVersion} at ${e.globalPosition}`), seedNote).toEqual([]);
  });

  it('applies every keyed request once, both writers answering with the same command', async () => {
    expect(keyed.length).toBeGreaterThan(20);
    const byCommand = new Map<string, number>();
    for (const e of events) {
      const id = String(e.metadata['causationId']);
      byCommand.set(id, (byCommand.get(id) ?? 0) + 1);
    }
    for (const { key, answers } of keyed) {
      const [first, second] = answers;
      expect(second!.status, `${key} ${seedNote}`).toBe(first!.status);
      if (first!.status !== 201) continue;
      expect(second!.body.commandId, key).toBe(first!.body.commandId);
      expect(second!.body.globalPosition, key).toBe(first!.body.globalPosition);
      expect(byCommand.get(first!.body.commandId), key).toBe(first!.body.eventIds.length);
    }
  });

  it('conserves money: the balances add up to what was deposited, none below zero', () => {
    const balances = new Map<string, bigint>();
    for (const e of events) {
      if (typeof e.data['balanceAfter'] === 'string') balances.set(e.streamId, BigInt(e.data['balanceAfter']));
    }
    expect([...balances.values()].every((b) => b >= 0n)).toBe(true);
    expect([...balances.values()].reduce((a, b) => a + b, 0n)).toBe(deposited);
  });

  it('verifies clean with `chronicle verify` and the public key only', async () => {
    const key = await (await fetch(`${apis[0]!.base}/audit/public-key`)).json() as { publicKey: string };
    const run = await promisify(execFile)(process.execPath, [CLI_MAIN, 'verify', '--public-key', key.publicKey], {
      env: { ...process.env, DATABASE_URL: eventDb.url, CHRONICLE_DATA_DIR: join(scratch, 'verifier'), LOG_LEVEL: 'warn' },
      timeout: 60_000,
    }).catch((error: { code: number; stdout: string; stderr: string }) => ({ stdout: `${error.stdout}${error.stderr}`, stderr: '', failed: error.code }));
    expect(run.stdout, seedNote).toMatch(/\bOK\b/);
    expect('failed' in run ? run.failed : 0, run.stdout).toBe(0);
  }, 90_000);

  it('has the read processor apply everything with zero redeliveries, and the bus carry $all exactly', async () => {
    const readModel = await SqlReadModel.open(readSql);
    const end = Date.now() + 60_000;
    while ((await readModel.checkpoint('accounts'))?.position !== events.length) {
      if (Date.now() > end) throw new Error(`read model at ${JSON.stringify(await readModel.checkpoint('accounts'))} of ${events.length}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const metrics = parseMetrics(await (await fetch(`${readProcessor.base}/metrics`, { headers: { authorization: CLI_AUTHORIZATION } })).text());
    expect(metricValue(metrics, 'chronicle_projection_redeliveries_total', { projection: 'accounts' }) ?? 0, seedNote).toBe(0);
    expect(await readModel.deadLetterCount('accounts')).toBe(0);
    expect(await readModel.contents()).toEqual(expectedModel(events));

    const admin = await natsAdmin();
    try {
      const messages = await readStreamMessages(admin.jsm, streamName);
      expect(messages.map((m) => m.event.globalPosition)).toEqual(events.map((e) => e.globalPosition));
    } finally {
      await admin.close();
    }
  }, 90_000);
});
