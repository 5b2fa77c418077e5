// One relay per JetStream stream and one read processor per projection, across processes: a second one
// waits as a hot standby (its /health says so), and takes over when the first goes. Shown with two
// ledgers per role on one PostgreSQL database and one JetStream stream: the standby publishes or applies
// nothing while the first runs; after the first closes, new events still reach the stream and the read
// model, each once.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger, type LedgerOptions } from '../src/ledger.js';
import { deleteStreams, natsAdmin, natsAvailable, NATS_TEST_URL, readStreamMessages, uniqueBusNames } from './support/nats.js';
import { createTestDatabase, postgresAvailable, type TestDatabase } from './support/postgres.js';
import { allEvents, expectedModel } from './support/read-model-expectations.js';

const servicesUp = (await postgresAvailable()) && (await natsAvailable());

describe.skipIf(!servicesUp)('leases: one relay per stream, one read processor per projection', () => {
  let db: TestDatabase;
  const names = uniqueBusNames();
  const ledgers: Ledger[] = [];
  let options: LedgerOptions;
  const open = async (roles: LedgerOptions['roles']) => {
    const ledger = await createLedger({ ...options, roles });
    ledgers.push(ledger);
    return ledger;
  };
  const health = async (ledger: Ledger) => (await ledger.app.inject({ url: '/health' })).json().components;
  const published = (ledger: Ledger) => ledger.metrics.registry.getSingleMetric('chronicle_relay_events_published_total')!.get().then((m) => m.values[0]?.value ?? 0);

  beforeAll(async () => {
    db = await createTestDatabase();
    options = {
      store: { kind: 'postgres', url: db.url, poolMax: 4 },
      bus: { kind: 'nats', servers: NATS_TEST_URL, stream: names.streamName, subjectPrefix: names.subjectPrefix },
      processMetrics: false,
    };
  });
  afterAll(async () => {
    for (const ledger of ledgers) await ledger.close();
    const admin = await natsAdmin();
    await deleteStreams(admin.jsm, [names.streamName]);
    await admin.close();
    await db?.drop();
  });

  it('the second relay and read processor stand by, and take over when the first ones go', async () => {
    const writer = await open(['ledger-api', 'query-api']);
    const relayA = await open(['relay']);
    const processorA = await open(['read-processor']);
    const relayB = await open(['relay']);
    const processorB = await open(['read-processor']);
    await expect.poll(async () => (await health(relayB)).relay.state, { timeout: 5_000 }).toBe('standby');
    await expect.poll(async () => (await health(processorB)).readProcessor.state, { timeout: 5_000 }).toBe('standby');
    expect((await health(relayA)).relay.state).not.toBe('standby');

    const post = async (url: string, payload: object) => {
      const response = await writer.app.inject({ method: 'POST', url, payload });
      expect(response.statusCode, response.body).toBe(201);
      return response.json() as { globalPosition: number };
    };
    await post('/commands/create-account', { accountId: 'LS1', owner: 'L', currency: 'EUR' });
    const first = await post('/commands/deposit', { accountId: 'LS1', amount: '10' });
    expect((await writer.app.inject({ url: `/accounts/LS1/balance?minPosition=${first.globalPosition}` })).json().freshness.status).toBe('reached');
    expect(await published(relayA)).toBe(2);
    expect(await published(relayB)).toBe(0);

    await relayA.close();
    await processorA.close();
    await expect.poll(async () => (await health(relayB)).relay.state, { timeout: 5_000 }).not.toBe('standby');
    await expect.poll(async () => (await health(processorB)).readProcessor.state, { timeout: 5_000 }).toBe('running');
    const second = await post('/commands/deposit', { accountId: 'LS1', amount: '5' });
    const read = (await writer.app.inject({ url: `/accounts/LS1/balance?minPosition=${second.globalPosition}` })).json();
    expect(read).toMatchObject({ balance: '15', freshness: { status: 'reached' } });
    expect(await published(relayB)).toBeGreaterThanOrEqual(1);

    const all = await allEvents(writer.store);
    const admin = await natsAdmin();
    try {
      expect((await readStreamMessages(admin.jsm, names.streamName)).map((m) => m.event.eventId)).toEqual(all.map((e) => e.eventId));
    } finally {
      await admin.close();
    }
    expect(await writer.readModel!.contents()).toEqual(expectedModel(all));
  }, 60_000);
});
