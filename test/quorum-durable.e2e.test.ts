// Issue 12, items 4 and 5: an ambiguous commit is never guessed, and nothing anyone has seen can vanish.
// On a PostgreSQL primary with one synchronous standby of this file's own (test/support/sync-replica-pair.ts;
// the shared server is never touched), one ledger with every role (API, relay to a JetStream stream of its
// own on the shared NATS, read processor, sealer) connects through a TCP proxy (HAProxy's part), and an SSE
// client follows $all. How each case is forced:
// - the positive control: a command reaches JetStream, the read model, the SSE client and the Merkle log;
// - the standby stopped, a command's COMMIT waits for it (wait_event SyncRep); its backend is terminated
//   (pg_terminate_backend): 503 outcome_unknown, though it committed on the primary; the retry with the same
//   key is 503 outcome_unknown again while the standby is away (its answer is not durable), and once the
//   standby is back it replays the first answer; applied once;
// - the same, but the client's connection is cut at the proxy while the backend keeps waiting (the commit
//   invisible, its locks held): 503 outcome_unknown; the retry waits behind it, and once the standby is back
//   answers with the first attempt's events (replayed); applied once;
// - the standby stopped, a command's wait for it cancelled (pg_cancel_backend): COMMIT returns with the
//   server's WARNING; the API answers 503 outcome_unknown, the event is visible on the primary (SQL), and
//   for seconds no follower shows it: not JetStream, not the read model, not the SSE client, not the Merkle
//   log, not /streams/$all. Then the primary is killed (SIGKILL), the standby, which never had the event,
//   is promoted, the proxy points at it: the same ledger (no restart) goes on; the lost command's retry is
//   applied once, fresh; every follower holds exactly the new primary's log, and `verify` passes (the audit
//   log did not fork).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigner, signatureVerifier } from '../src/adapters/audit/signing-key.js';
import { sqlVerifySource } from '../src/adapters/audit/verify-sources.js';
import { createPostgresClient } from '../src/adapters/event-store/postgres/postgres-client.js';
import { sha256 } from '../src/adapters/event-store/sql/sql-event-store.js';
import { verifyLog } from '../src/application/verify-log.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import { deleteStreams, natsAdmin, natsAvailable, NATS_TEST_URL, readStreamMessages, uniqueBusNames } from './support/nats.js';
import { freePostgresPort, privatePostgresAvailable } from './support/private-postgres.js';
import { SseReader } from './support/sse.js';
import { startSyncPair, startTcpProxy, type SyncPair, type TcpProxy } from './support/sync-replica-pair.js';

const ready = privatePostgresAvailable() && await natsAvailable();

describe.skipIf(!ready)('synchronous replication: an ambiguous commit answers outcome_unknown, and no follower sees a commit the standby lacks', () => {
  let pair: SyncPair;
  let proxy: TcpProxy;
  let ledger: Ledger;
  let base = '';
  let primaryPort = 0;
  const names = uniqueBusNames();
  const { signer } = generateSigner();
  let admin: Awaited<ReturnType<typeof natsAdmin>>;
  const sse: { reader: SseReader; controller: AbortController }[] = [];

  /** One statement on the current primary, directly (not through the proxy). */
  const sql = async <Row extends Record<string, unknown>>(text: string, params: unknown[] = [], port = primaryPort): Promise<Row[]> => {
    const client = new pg.Client({ connectionString: `postgres://postgres@127.0.0.1:${port}/chronicle` });
    await client.connect();
    try {
      return (await client.query<Row>(text, params)).rows;
    } finally {
      await client.end();
    }
  };
  const post = (url: string, payload: object, key?: string) =>
    ledger.app.inject({ method: 'POST', url, payload, headers: key ? { 'idempotency-key': key } : {} });
  /** The pid (and client port) of the backend whose append waits for the standby. */
  const syncRepWaiter = async (): Promise<{ pid: number; client_port: number }> => {
    let found: { pid: number; client_port: number } | undefined;
    await expect.poll(async () => {
      found = (await sql<{ pid: number; client_port: number }>(
        // An append's COMMIT: chronicle_append, or the fast statement (group commit), known by its first
        // lines (pg_stat_activity keeps only the first track_activity_query_size bytes, 1 kB by default).
        `SELECT pid, client_port FROM pg_stat_activity WHERE wait_event = 'SyncRep'
            AND (query LIKE '%chronicle_append%' OR query LIKE '%AS i(stream_id, expected, n, aggregate_type)%')`))[0];
      return found !== undefined;
    }, { timeout: 10_000, interval: 20 }).toBe(true);
    return found!;
  };
  const subscribe = async (lastEventId?: string) => {
    const controller = new AbortController();
    const response = await fetch(`${base}/subscribe/$all${lastEventId === undefined ? '?from=0' : ''}`, {
      headers: { accept: 'text/event-stream', ...(lastEventId === undefined ? {} : { 'last-event-id': lastEventId }) }, signal: controller.signal,
    });
    expect(response.status).toBe(200);
    sse.push({ reader: new SseReader(response), controller });
  };
  const sseEventIds = () => sse.flatMap((s) => s.reader.events().map((m) => m.body.eventId));
  const jetStreamEventIds = async () => (await readStreamMessages(admin.jsm, names.streamName)).map((m) => m.event.eventId);
  const sealedEventIds = async () => (await sql<{ id: string }>('SELECT event_id::text AS id FROM merkle_leaves ORDER BY leaf_index')).map((r) => r.id);
  const storeEventIds = async () => (await sql<{ id: string }>('SELECT event_id::text AS id FROM events ORDER BY global_position')).map((r) => r.id);
  const balance = async (accountId: string) => (await ledger.app.inject({ url: `/accounts/${accountId}/balance` })).json().balance as string;
  const storedEventIdsOfKey = async (key: string) => (await sql<{ ids: string[] }>(
    `SELECT ARRAY(SELECT e->>'eventId' FROM jsonb_array_elements(result->'append'->'events') e) AS ids FROM idempotency_keys WHERE key = $1`,
    [`anonymous ${key}`]))[0]?.ids;

  beforeAll(async () => {
    const primary = await freePostgresPort();
    let standby = await freePostgresPort();
    while (standby === primary) standby = await freePostgresPort();
    pair = await startSyncPair([primary, standby], ['chronicle']);
    primaryPort = primary;
    proxy = await startTcpProxy(primary);
    admin = await natsAdmin();
    ledger = await createLedger({
      store: { kind: 'postgres', url: `postgres://postgres@127.0.0.1:${proxy.port}/chronicle`, poolMax: 8 },
      bus: { kind: 'nats', servers: NATS_TEST_URL, stream: names.streamName, subjectPrefix: names.subjectPrefix },
      processMetrics: false,
      logger: false,
      audit: { signer, sealer: { checkpointIntervalMs: 100 } },
    });
    await ledger.app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(ledger.app.server.address() as { port: number }).port}`;
  }, 60_000);

  afterAll(async () => {
    for (const s of sse) s.controller.abort();
    // The servers first: a ledger whose writes wait for a stopped standby would not close.
    pair?.destroy();
    await ledger?.close().catch(() => {});
    if (admin) {
      await deleteStreams(admin.jsm, [names.streamName]);
      await admin.close();
    }
    await proxy?.close();
  }, 60_000);

  it('positive control: a command reaches JetStream, the read model, an SSE subscriber and the Merkle log', async () => {
    expect((await post('/commands/create-account', { accountId: 'Q1', owner: 'Quorum', currency: 'EUR' })).statusCode).toBe(201);
    expect((await post('/commands/create-account', { accountId: 'Q2', owner: 'Quorum', currency: 'EUR' })).statusCode).toBe(201);
    expect((await post('/commands/create-account', { accountId: 'Q3', owner: 'Quorum', currency: 'EUR' })).statusCode).toBe(201);
    const deposit = await post('/commands/deposit', { accountId: 'Q1', amount: '100' }, 'control-1');
    expect(deposit.statusCode, deposit.body).toBe(201);
    await subscribe();
    const ids = await storeEventIds();
    expect(ids).toHaveLength(4);
    await expect.poll(jetStreamEventIds, { timeout: 10_000 }).toEqual(ids);
    await expect.poll(() => balance('Q1'), { timeout: 10_000 }).toBe('100');
    await expect.poll(sseEventIds, { timeout: 10_000 }).toEqual(ids);
    await expect.poll(sealedEventIds, { timeout: 10_000 }).toEqual(ids);
  }, 30_000);

  it('a connection cut while COMMIT waits for the standby: 503 outcome_unknown, and the retry with the same key answers the truth; applied once', async () => {
    pair.standby.stop('fast');
    let retry: ReturnType<typeof post> | undefined;
    try {
      // (a) The backend terminated while it waits: committed on the primary, not on the standby.
      const terminated = post('/commands/deposit', { accountId: 'Q1', amount: '10' }, 'cut-terminate');
      await sql('SELECT pg_terminate_backend($1)', [(await syncRepWaiter()).pid]);
      const first = await terminated;
      expect(first.statusCode, first.body).toBe(503);
      expect(first.json().error.code).toBe('outcome_unknown');
      expect(first.json().error.details).toMatchObject({ outcome: 'unknown', retryable: true });
      expect(first.headers['retry-after']).toBe('1');
      expect(await storedEventIdsOfKey('cut-terminate')).toHaveLength(1); // visible on the primary
      // Its retry finds the answer, but the standby does not have it: still unknown, not 201.
      const early = await post('/commands/deposit', { accountId: 'Q1', amount: '10' }, 'cut-terminate');
      expect(early.statusCode, early.body).toBe(503);
      expect(early.json().error.code).toBe('outcome_unknown');

      // (b) The client's connection cut while the backend still waits: the commit is invisible, its locks held.
      // (Another account: Q1's cached state is behind after (a), so a command on it would first meet a version
      // conflict, which commits nothing but its row locks, and waits for the standby all the same.)
      const cut = post('/commands/deposit', { accountId: 'Q2', amount: '20' }, 'cut-waiting');
      const waiter = await syncRepWaiter();
      expect(proxy.cut(waiter.client_port)).toBe(true);
      const second = await cut;
      expect(second.statusCode, second.body).toBe(503);
      expect(second.json().error.code).toBe('outcome_unknown');
      expect(await storedEventIdsOfKey('cut-waiting')).toBeUndefined(); // not visible: still waiting
      expect((await sql(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND wait_event = 'SyncRep'`, [waiter.pid]))).toHaveLength(1);
      // The retry runs (the key is not visible), meets the waiting transaction's locks, and waits.
      let retried: Awaited<ReturnType<typeof post>> | undefined;
      retry = post('/commands/deposit', { accountId: 'Q2', amount: '20' }, 'cut-waiting').then((r) => { retried = r; return r; });
      retry.catch(() => {}); // awaited after the standby is back (below)
      await new Promise((r) => setTimeout(r, 500));
      expect(retried).toBeUndefined();
    } finally {
      pair.standby.start();
    }
    // The retry that waited: the first attempt committed once the standby was back, so it answers with it.
    const waited = await retry!;
    expect(waited.statusCode, waited.body).toBe(201);
    expect(waited.headers['idempotent-replayed']).toBe('true');
    expect(waited.json().eventIds).toEqual(await storedEventIdsOfKey('cut-waiting'));
    const replayedWaiting = await post('/commands/deposit', { accountId: 'Q2', amount: '20' }, 'cut-waiting');
    expect(replayedWaiting.statusCode, replayedWaiting.body).toBe(201);
    expect(replayedWaiting.headers['idempotent-replayed']).toBe('true');
    expect(replayedWaiting.json().eventIds).toEqual(await storedEventIdsOfKey('cut-waiting'));
    const replayedTerminated = await post('/commands/deposit', { accountId: 'Q1', amount: '10' }, 'cut-terminate');
    expect(replayedTerminated.statusCode, replayedTerminated.body).toBe(201);
    expect(replayedTerminated.headers['idempotent-replayed']).toBe('true');
    expect(replayedTerminated.json().eventIds).toEqual(await storedEventIdsOfKey('cut-terminate'));
    // Applied once each.
    const amounts = await sql<{ stream: string; amount: string; n: number }>(
      `SELECT stream_id AS stream, event_data->>'amount' AS amount, count(*)::int AS n FROM events WHERE event_type = 'MoneyDeposited' GROUP BY 1, 2 ORDER BY 1, 2`);
    expect(amounts).toEqual([{ stream: 'account-Q1', amount: '10', n: 1 }, { stream: 'account-Q1', amount: '100', n: 1 }, { stream: 'account-Q2', amount: '20', n: 1 }]);
    await expect.poll(() => balance('Q1'), { timeout: 10_000 }).toBe('110');
    await expect.poll(() => balance('Q2'), { timeout: 10_000 }).toBe('20');
    const ids = await storeEventIds();
    await expect.poll(jetStreamEventIds, { timeout: 10_000 }).toEqual(ids);
    await expect.poll(sealedEventIds, { timeout: 10_000 }).toEqual(ids);
  }, 60_000);

  it('a commit whose wait for the standby is cancelled is seen by no follower, and after a failover that erases it the followers go on', async () => {
    const before = await storeEventIds();
    pair.standby.stop('fast');
    const lost = post('/commands/deposit', { accountId: 'Q3', amount: '7' }, 'lost-1');
    await sql('SELECT pg_cancel_backend($1)', [(await syncRepWaiter()).pid]);
    const answer = await lost;
    expect(answer.statusCode, answer.body).toBe(503);
    expect(answer.json().error.code).toBe('outcome_unknown');
    // Committed on the primary: visible there to anyone who looks.
    const lostIds = await storedEventIdsOfKey('lost-1');
    expect(lostIds).toHaveLength(1);
    const lostId = lostIds![0]!;
    expect(await storeEventIds()).toEqual([...before, lostId]);
    // For seconds (the retry alone waits 3 s for the standby, then answers outcome_unknown again), no follower shows it.
    const retry = await post('/commands/deposit', { accountId: 'Q3', amount: '7' }, 'lost-1');
    expect(retry.statusCode, retry.body).toBe(503);
    expect(retry.json().error.code).toBe('outcome_unknown');
    await new Promise((r) => setTimeout(r, 1_000));
    expect(await jetStreamEventIds()).toEqual(before);
    expect(await balance('Q3')).toBe('0');
    expect(sseEventIds()).toEqual(before);
    expect(await sealedEventIds()).toEqual(before);
    const page = await ledger.app.inject({ url: `/streams/$all?from=${before.length - 1}` });
    expect(page.statusCode, page.body).toBe(200);
    expect(JSON.stringify(page.json())).not.toContain(lostId);
    const metrics = (await ledger.app.inject({ url: '/metrics' })).body;
    expect(metrics).toMatch(/chronicle_quorum_wait_seconds_count\{outcome="held"\} [1-9]/);

    // Failover: the primary crashes; the standby, which never had the event, is promoted; the proxy follows.
    pair.primary.kill9();
    pair.standby.start();
    pair.standby.promote();
    primaryPort = pair.standby.port;
    proxy.setTarget(primaryPort);
    proxy.cutAll();
    expect(await storeEventIds()).toEqual(before); // the event is gone

    // The same ledger goes on: a new command, and the lost command's retry, applied once, fresh.
    await expect.poll(async () => (await post('/commands/deposit', { accountId: 'Q3', amount: '5' }, 'after-failover')).statusCode,
      { timeout: 20_000, interval: 200 }).toBe(201);
    const again = await post('/commands/deposit', { accountId: 'Q3', amount: '7' }, 'lost-1');
    expect(again.statusCode, again.body).toBe(201);
    expect(again.headers['idempotent-replayed']).toBeUndefined();
    expect(again.json().eventIds).not.toContain(lostId);
    const after = await storeEventIds();
    expect(after).toHaveLength(before.length + 2);
    expect(after.slice(0, before.length)).toEqual(before);

    // Every follower holds exactly the new primary's log, and never the lost event.
    await expect.poll(jetStreamEventIds, { timeout: 15_000 }).toEqual(after);
    await expect.poll(() => balance('Q3'), { timeout: 15_000 }).toBe('12');
    await expect.poll(sealedEventIds, { timeout: 15_000 }).toEqual(after);
    // The SSE client: its stream may have ended with the old primary; it resumes from its last id.
    const seen = sse[0]!.reader;
    if (seen.ended || seen.events().length < after.length) {
      await new Promise((r) => setTimeout(r, 500));
      if (seen.ended) await subscribe(seen.events().at(-1)?.id);
    }
    await expect.poll(sseEventIds, { timeout: 15_000 }).toEqual(after);
    expect(sseEventIds()).not.toContain(lostId);

    // The audit log did not fork: chains, leaves and signed checkpoints all check out on the new primary.
    const db = createPostgresClient({ connectionString: `postgres://postgres@127.0.0.1:${primaryPort}/chronicle`, poolMax: 2 });
    try {
      await expect.poll(async () => (await verifyLog(sqlVerifySource(db), sha256, signatureVerifier(signer.publicKey))).unsealed, { timeout: 10_000 }).toBe(0);
      const report = await verifyLog(sqlVerifySource(db), sha256, signatureVerifier(signer.publicKey));
      expect(report.findings).toEqual([]);
      expect(report.ok).toBe(true);
      expect(report.leaves).toBe(after.length);
    } finally {
      await db.close();
    }
  }, 90_000);
});

