// The relay's SQL side on every store adapter (PGlite, the embedded default, and PostgreSQL): the
// checkpoint table is created idempotently and keeps one position per relay name, the lag count matches
// what readAll lists, and a relay over the in-process bus with that checkpoint publishes $all exactly.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InProcessEventBus } from '../src/adapters/event-bus/in-process/in-process-event-bus.js';
import { SqlRelayCheckpoints, sqlCountEventsAfter } from '../src/adapters/event-bus/relay-checkpoints/sql-relay-checkpoints.js';
import { OutboxRelay } from '../src/application/relay.js';
import type { EventStore, RecordedEvent } from '../src/ports/event-store.js';
import { storeFactories, type OpenedStore } from './support/stores.js';

async function appendSome(store: EventStore, streamId: string, count: number): Promise<void> {
  const result = await store.append({
    streams: [{
      streamId, aggregateType: 'Thing', expectedVersion: 'any',
      events: Array.from({ length: count }, (_, i) => ({ eventId: randomUUID(), type: 'ThingHappened', data: { i } })),
    }],
    createdBy: 'test',
  });
  expect(result.ok).toBe(true);
}

async function allEvents(store: EventStore): Promise<RecordedEvent[]> {
  return (await store.readAll(0, 1_000))!.events;
}

for (const factory of await storeFactories()) {
  describe.skipIf(!factory.available)(`relay checkpoints on ${factory.name}`, () => {
    let opened: OpenedStore;
    beforeAll(async () => {
      opened = await factory.open();
    });
    afterAll(async () => {
      await opened?.close();
    });

    it('creates its table idempotently and keeps one position per relay name', async () => {
      const checkpoints = await SqlRelayCheckpoints.open(opened.sql);
      await SqlRelayCheckpoints.open(opened.sql); // a second process starting: nothing breaks
      expect(await checkpoints.load('a')).toBeNull();
      await checkpoints.save('a', 7);
      await checkpoints.save('b', 3);
      await checkpoints.save('a', 5); // positions follow commit order, not numeric order: a save may go down
      expect(await checkpoints.load('a')).toBe(5);
      expect(await checkpoints.load('b')).toBe(3);
      const rows = await opened.sql.query<{ name: string; updated_at: unknown }>('SELECT name, updated_at FROM relay_checkpoints ORDER BY name');
      expect(rows.map((r) => r.name)).toEqual(['a', 'b']);
      expect(rows.every((r) => r.updated_at !== null)).toBe(true);
    });

    it('counts the events after a position as readAll lists them, up to a cap', async () => {
      await appendSome(opened.store, 'thing-count', 12);
      const all = await allEvents(opened.store);
      const count = sqlCountEventsAfter(opened.sql);
      expect(await count(0, 1_000)).toBe(all.length);
      expect(await count(all[4]!.globalPosition, 1_000)).toBe(all.length - 5);
      expect(await count(all.at(-1)!.globalPosition, 1_000)).toBe(0);
      expect(await count(0, 3)).toBe(3);
    });

    it('relays $all into the in-process bus with the checkpoint in the store, and resumes from it', async () => {
      await appendSome(opened.store, 'thing-relay', 30);
      const checkpoints = await SqlRelayCheckpoints.open(opened.sql);
      const deps = { store: opened.store, checkpoints, countEventsAfter: sqlCountEventsAfter(opened.sql) };
      const options = { name: 'embedded', pollIntervalMs: 5, checkpointEveryEvents: 7, pageSize: 9 };

      const bus = new InProcessEventBus();
      const first = new OutboxRelay({ ...deps, publisher: bus }, options);
      const abort = new AbortController();
      const running = first.run(abort.signal);
      await appendSome(opened.store, 'thing-live', 5); // while it runs
      const all = await allEvents(opened.store);
      await expect.poll(() => bus.storedEvents().length, { timeout: 10_000, interval: 5, message: 'every event' }).toBe(all.length);
      expect((await first.lag()).eventsBehind).toBe(0);
      abort.abort();
      await running;
      expect(bus.storedEvents().map((e) => e.eventId)).toEqual(all.map((e) => e.eventId));
      expect(await checkpoints.load('embedded')).toBe(all.at(-1)!.globalPosition);

      // A restart with a new (empty, volatile) bus: only what came after the checkpoint.
      await appendSome(opened.store, 'thing-later', 4);
      const fresh = new InProcessEventBus();
      const second = new OutboxRelay({ ...deps, publisher: fresh }, options);
      const abort2 = new AbortController();
      const running2 = second.run(abort2.signal);
      await expect.poll(() => fresh.storedEvents().length, { timeout: 10_000, interval: 5, message: 'the new events' }).toBe(4);
      const lag = await second.lag();
      abort2.abort();
      await running2;
      expect(fresh.storedEvents().map((e) => e.eventId)).toEqual((await allEvents(opened.store)).slice(-4).map((e) => e.eventId));
      expect(lag).toMatchObject({ eventsBehind: 0, publishedTotal: 4 });
      await bus.close();
      await fresh.close();
    });
  });
}
