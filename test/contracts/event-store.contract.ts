// The event store contract: every adapter must pass it unchanged (Emmett's testAggregateStream idea).
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AppendRequest, ExpectedVersion, NewEvent } from '../../src/ports/event-store.js';
import type { OpenedStore, StoreFactory } from '../support/stores.js';
import { CanonicalEncodingError, contentHash, GENESIS_PREV_HASH, linkHash } from '../../src/domain/audit/canonical.js';
import { sha256 } from '../../src/adapters/event-store/sql/sql-event-store.js';

const event = (type = 'Happened', data: Record<string, unknown> = { n: 1 }): NewEvent => ({ eventId: randomUUID(), type, data });
const one = (streamId: string, expectedVersion: ExpectedVersion, events: NewEvent[]): AppendRequest => ({
  streams: [{ streamId, aggregateType: 'Thing', expectedVersion, events }],
  createdBy: 'contract-test',
});
const MICROS_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

export function eventStoreContract(factory: StoreFactory) {
  describe.skipIf(!factory.available)(`event store contract: ${factory.name}`, () => {
    let opened: OpenedStore;
    beforeEach(async () => {
      opened = await factory.open();
    });
    afterEach(async () => {
      await opened.close();
    });
    afterAll(async () => {
      await factory.dispose();
    });

    it('appends a new stream with versions from 1 and increasing global positions', async () => {
      const result = await opened.store.append(one('thing-1', 'no_stream', [event(), event(), event()]));
      expect(result.ok).toBe(true);
      if (!result.ok) return;
      expect(result.events.map((e) => e.streamVersion)).toEqual([1, 2, 3]);
      const positions = result.events.map((e) => e.globalPosition);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      expect(new Set(positions).size).toBe(3);
      expect(result.streams).toEqual([{ streamId: 'thing-1', version: 3 }]);
      expect(result.recordedAt).toMatch(MICROS_ISO);
    });

    it('refuses each kind of wrong expected version with the actual version, and writes nothing', async () => {
      await opened.store.append(one('thing-1', 'no_stream', [event(), event()]));
      const cases: [string, ExpectedVersion, number][] = [
        ['thing-1', 'no_stream', 2], ['thing-1', 1, 2], ['thing-1', 3, 2], ['thing-2', 'stream_exists', 0], ['thing-2', 1, 0],
      ];
      for (const [streamId, expected, actual] of cases) {
        const result = await opened.store.append(one(streamId, expected, [event()]));
        expect(result).toMatchObject({ ok: false, reason: 'version_conflict', streamId, actualVersion: actual });
      }
      expect((await opened.store.readStream('thing-1', { count: 10, direction: 'forward' })).version).toBe(2);
      expect((await opened.store.readStream('thing-2', { count: 10, direction: 'forward' })).version).toBe(0);
    });

    it('accepts any, stream_exists and the exact version', async () => {
      expect((await opened.store.append(one('thing-1', 'any', [event()]))).ok).toBe(true);
      expect((await opened.store.append(one('thing-1', 'stream_exists', [event()]))).ok).toBe(true);
      expect((await opened.store.append(one('thing-1', 2, [event()]))).ok).toBe(true);
      expect((await opened.store.readStream('thing-1', { count: 10, direction: 'forward' })).version).toBe(3);
    });

    it('appends several streams atomically: one conflict and no stream changes', async () => {
      await opened.store.append(one('b-1', 'no_stream', [event()]));
      const request: AppendRequest = {
        streams: [
          { streamId: 'a-1', aggregateType: 'Thing', expectedVersion: 'no_stream', events: [event()] },
          { streamId: 'b-1', aggregateType: 'Thing', expectedVersion: 5, events: [event()] },
        ],
        createdBy: 'contract-test',
      };
      expect(await opened.store.append(request)).toMatchObject({ ok: false, reason: 'version_conflict', streamId: 'b-1', actualVersion: 1 });
      expect((await opened.store.readStream('a-1', { count: 10, direction: 'forward' })).version).toBe(0);
      expect((await opened.store.readAll(0, 100))!.events).toHaveLength(1);

      request.streams[1]!.expectedVersion = 1;
      const ok = await opened.store.append(request);
      expect(ok.ok && ok.streams).toEqual([{ streamId: 'a-1', version: 1 }, { streamId: 'b-1', version: 2 }]);
    });

    it('appends several existing streams at exact versions atomically: one behind and neither changes', async () => {
      await opened.store.append(one('a-1', 'no_stream', [event()]));
      await opened.store.append(one('b-1', 'no_stream', [event(), event()]));
      const request = (aVersion: number, bVersion: number): AppendRequest => ({
        streams: [
          { streamId: 'b-1', aggregateType: 'Thing', expectedVersion: bVersion, events: [event()] },
          { streamId: 'a-1', aggregateType: 'Thing', expectedVersion: aVersion, events: [event(), event()] },
        ],
        createdBy: 'contract-test',
      });
      expect(await opened.store.append(request(1, 1))).toMatchObject({ ok: false, reason: 'version_conflict', streamId: 'b-1', actualVersion: 2 });
      expect(await opened.store.append(request(2, 2))).toMatchObject({ ok: false, reason: 'version_conflict', streamId: 'a-1', actualVersion: 1 });
      expect((await opened.store.readAll(0, 100))!.events).toHaveLength(3);
      const good = request(1, 2);
      const ok = await opened.store.append(good);
      expect(ok.ok && ok.streams).toEqual([{ streamId: 'a-1', version: 3 }, { streamId: 'b-1', version: 3 }]);
      expect(ok.ok && ok.events.map((e) => [e.streamId, e.streamVersion])).toEqual([['a-1', 2], ['a-1', 3], ['b-1', 3]]);
      const replay = await opened.store.append(good); // the same event ids again
      expect(replay.ok && replay.replayed).toBe(true);
      expect((await opened.store.readAll(0, 100))!.events).toHaveLength(6);
    });

    it('group-commits concurrent appends: shared transactions, each its own exact answer, a stale one alone refused', async () => {
      const ids = Array.from({ length: 40 }, (_, i) => `grp-${i}`);
      for (const id of ids) await opened.store.append(one(id, 'no_stream', [event()]));
      const batched = await Promise.all(ids.map((id, i) => opened.store.append(one(id, 1, [event('Counted', { i }), event()]))));
      for (const [i, r] of batched.entries()) {
        expect(r.ok && r.streams).toEqual([{ streamId: ids[i], version: 3 }]);
        expect(r.ok && r.events.map((e) => [e.streamId, e.streamVersion])).toEqual([[ids[i], 2], [ids[i], 3]]);
      }
      // Fewer transactions than appends: the first flush goes alone, the rest queue behind it and go together.
      expect(new Set(batched.map((r) => r.ok && r.transactionId)).size).toBeLessThan(10);
      expect((await opened.store.readStream('grp-3', { count: 10, direction: 'forward' })).events.map((e) => e.data))
        .toEqual([{ n: 1 }, { i: 3 }, { n: 1 }]);

      // Every stream at version 3; grp-7 is expected at 2: it alone is refused, the others all append.
      const mixed = await Promise.all(ids.map((id) => opened.store.append(one(id, id === 'grp-7' ? 2 : 3, [event()]))));
      expect(mixed.filter((r) => r.ok)).toHaveLength(39);
      expect(mixed[7]).toMatchObject({ ok: false, reason: 'version_conflict', streamId: 'grp-7', actualVersion: 3 });
      expect((await opened.store.readStream('grp-7', { count: 10, direction: 'forward' })).version).toBe(3);
      expect((await opened.store.readStream('grp-8', { count: 10, direction: 'forward' })).version).toBe(4);
      expect((await opened.store.readAll(0, 1_000))!.events).toHaveLength(40 + 80 + 39);
    });

    it('lets concurrent appends with any create a new stream: all succeed, none is a conflict', async () => {
      const results = await Promise.all(Array.from({ length: 6 }, () => opened.store.append(one('racy-1', 'any', [event()]))));
      expect(results.map((r) => r.ok)).toEqual(Array(6).fill(true));
      expect((await opened.store.readStream('racy-1', { count: 10, direction: 'forward' })).events.map((e) => e.streamVersion)).toEqual([1, 2, 3, 4, 5, 6]);
      const created = await Promise.all(Array.from({ length: 4 }, () => opened.store.append(one('racy-2', 'no_stream', [event()]))));
      expect(created.filter((r) => r.ok)).toHaveLength(1);
      expect(created.filter((r) => !r.ok && r.reason === 'version_conflict')).toHaveLength(3);
    });

    it('never lets two appends of one stream share a group commit: one creation, one append per expected version', async () => {
      for (const id of ['busy-1', 'busy-2', 'same-0']) await opened.store.append(one(id, 'no_stream', [event()]));
      // Two flushes in flight (busy-1, busy-2: the most at once), and queued behind them, at once, racing
      // appends of the same streams, which a batch taking them together would all acknowledge.
      const [, , ...racing] = await Promise.all([
        opened.store.append(one('busy-1', 1, [event()])),
        opened.store.append(one('busy-2', 1, [event()])),
        ...Array.from({ length: 6 }, () => opened.store.append(one('same-1', 'no_stream', [event()]))),
        ...Array.from({ length: 6 }, () => opened.store.append(one('same-0', 1, [event()]))),
      ]);
      for (const results of [racing.slice(0, 6), racing.slice(6)]) {
        expect(results.filter((r) => r.ok)).toHaveLength(1);
        expect(results.filter((r) => !r.ok && r.reason === 'version_conflict')).toHaveLength(5);
      }
      expect((await opened.store.readStream('same-0', { count: 10, direction: 'forward' })).version).toBe(2);
      expect((await opened.store.readStream('same-1', { count: 10, direction: 'forward' })).version).toBe(1);
      expect((await opened.store.readAll(0, 100))!.events).toHaveLength(7);
    });

    it('answers a retried append of the same event ids with the original result and appends nothing', async () => {
      const request = one('thing-1', 'no_stream', [event(), event()]);
      const first = await opened.store.append(request);
      const again = await opened.store.append(request);
      expect(first.ok && again.ok).toBe(true);
      if (!first.ok || !again.ok) return;
      expect(again.replayed).toBe(true);
      expect(again.events).toEqual(first.events);
      expect(again.streams).toEqual(first.streams);
      expect((await opened.store.readAll(0, 100))!.events).toHaveLength(2);
    });

    it('refuses an append whose event ids are partly stored already', async () => {
      const stored = event();
      await opened.store.append(one('thing-1', 'no_stream', [stored]));
      const result = await opened.store.append(one('thing-1', 'any', [stored, event()]));
      expect(result).toMatchObject({ ok: false, reason: 'event_ids_conflict', eventIds: [stored.eventId] });
      expect((await opened.store.readAll(0, 100))!.events).toHaveLength(1);
    });

    it('reads one stream forward and backward from a version with a count', async () => {
      await opened.store.append(one('thing-1', 'no_stream', [1, 2, 3, 4, 5].map((n) => event('Counted', { n }))));
      const forward = await opened.store.readStream('thing-1', { fromVersion: 2, count: 2, direction: 'forward' });
      expect(forward.events.map((e) => e.data['n'])).toEqual([2, 3]);
      expect(forward.version).toBe(5);
      const backward = await opened.store.readStream('thing-1', { fromVersion: 4, count: 3, direction: 'backward' });
      expect(backward.events.map((e) => e.streamVersion)).toEqual([4, 3, 2]);
      const tail = await opened.store.readStream('thing-1', { count: 2, direction: 'backward' });
      expect(tail.events.map((e) => e.streamVersion)).toEqual([5, 4]);
      const missing = await opened.store.readStream('nothing-1', { count: 2, direction: 'forward' });
      expect(missing).toEqual({ streamId: 'nothing-1', version: 0, events: [] });
    });

    it('reads $all in commit order, page by page, from a position', async () => {
      for (let i = 0; i < 5; i++) await opened.store.append(one(`thing-${i % 2}`, 'any', [event('Counted', { i })]));
      const all = (await opened.store.readAll(0, 100))!;
      expect(all.events.map((e) => e.data['i'])).toEqual([0, 1, 2, 3, 4]);
      const page1 = (await opened.store.readAll(0, 2))!;
      const page2 = (await opened.store.readAll(page1.lastPosition, 2))!;
      const page3 = (await opened.store.readAll(page2.lastPosition, 2))!;
      expect([...page1.events, ...page2.events, ...page3.events]).toEqual(all.events);
      expect((await opened.store.readAll(page3.lastPosition, 2))!.events).toEqual([]);
      expect(await opened.store.readAll(987_654, 2)).toBeNull();
    });

    it('stores the full envelope: ids, types, data, schema version, creator, metadata, microsecond time', async () => {
      const e: NewEvent = { eventId: randomUUID(), type: 'Noted', data: { text: 'é', nested: { a: [1, 2] } }, schemaVersion: 3,
        metadata: { correlationId: 'corr-1', causationId: 'cause-1', clientAddress: '127.0.0.1' } };
      await opened.store.append(one('thing-1', 'no_stream', [e]));
      const [stored] = (await opened.store.readStream('thing-1', { count: 1, direction: 'forward' })).events;
      expect(stored).toMatchObject({
        eventId: e.eventId, streamId: 'thing-1', streamVersion: 1, aggregateType: 'Thing', type: 'Noted', data: e.data,
        schemaVersion: 3, createdBy: 'contract-test', metadata: e.metadata,
      });
      expect(stored!.recordedAt).toMatch(MICROS_ISO);
      expect(stored!.transactionId).toMatch(/^\d+$/);
    });

    it('never lets recorded time run backwards within a stream, and finds the last event at an instant', async () => {
      for (let i = 0; i < 4; i++) await opened.store.append(one('thing-1', 'any', [event('Counted', { i })]));
      const events = (await opened.store.readStream('thing-1', { count: 10, direction: 'forward' })).events;
      const times = events.map((e) => e.recordedAt);
      expect([...times].sort()).toEqual(times);
      const third = events[2]!;
      const atThird = await opened.store.lastEventAt('thing-1', third.recordedAt);
      expect(atThird!.streamVersion).toBeGreaterThanOrEqual(3); // events sharing its microsecond are included too
      expect(await opened.store.lastEventAt('thing-1', '2000-01-01T00:00:00Z')).toBeNull();
    });

    it('records an idempotency key with its result in the append transaction, and refuses to reuse it', async () => {
      const request: AppendRequest = { ...one('thing-1', 'no_stream', [event()]), idempotency: { key: 'key-1', requestHash: 'h1', result: { commandId: 'c1' } } };
      const first = await opened.store.append(request);
      const stored = await opened.store.findIdempotencyKey('key-1');
      expect(stored).toMatchObject({ key: 'key-1', requestHash: 'h1', result: { command: { commandId: 'c1' } } });
      expect(stored!.result.append).toEqual(first);
      const second = await opened.store.append({ ...one('thing-2', 'no_stream', [event()]), idempotency: { key: 'key-1', requestHash: 'h1', result: {} } });
      expect(second).toEqual({ ok: false, reason: 'idempotency_key_exists', key: 'key-1' });
      expect((await opened.store.readStream('thing-2', { count: 1, direction: 'forward' })).version).toBe(0);
      expect(await opened.store.findIdempotencyKey('key-2')).toBeNull();
      // One lookup with a fallback: the key if stored, else the fallback's, named by its key.
      await opened.store.append({ ...one('thing-3', 'no_stream', [event()]), idempotency: { key: 'scoped key-1', requestHash: 'h3', result: {} } });
      expect(await opened.store.findIdempotencyKey('scoped key-1', 'key-1')).toMatchObject({ key: 'scoped key-1', requestHash: 'h3' });
      expect(await opened.store.findIdempotencyKey('scoped key-9', 'key-1')).toMatchObject({ key: 'key-1', requestHash: 'h1' });
      expect(await opened.store.findIdempotencyKey('scoped key-9', 'key-9')).toBeNull();
      // Lookups at once (answered together): each gets its own.
      const many = await Promise.all([
        opened.store.findIdempotencyKey('key-1'), opened.store.findIdempotencyKey('scoped key-9', 'key-1'),
        opened.store.findIdempotencyKey('scoped key-1', 'key-1'), opened.store.findIdempotencyKey('nope'),
      ]);
      expect(many.map((m) => m?.key ?? null)).toEqual(['key-1', 'key-1', 'scoped key-1', null]);
    });

    it('group-commits appends with idempotency keys: each key stores exactly its own answer; a key taken meanwhile is refused alone', async () => {
      const ids = Array.from({ length: 12 }, (_, i) => `kg-${i}`);
      await opened.store.append(one('kg-busy', 'no_stream', [event()]));
      const keyed = (streams: AppendRequest['streams'], key: string): AppendRequest =>
        ({ streams, createdBy: 'contract-test', idempotency: { key, requestHash: `h-${key}`, result: { commandId: `c-${key}` } } });
      // A flush in flight, and behind it keyed appends (new streams, one of them two-stream with two events) and unkeyed ones.
      const [, ...results] = await Promise.all([
        opened.store.append(one('kg-busy', 1, [event()])),
        ...ids.map((id, i) => opened.store.append(i === 0
          ? keyed([{ streamId: id, aggregateType: 'Thing', expectedVersion: 'no_stream', events: [event(), event()] },
            { streamId: 'kg-z', aggregateType: 'Thing', expectedVersion: 'no_stream', events: [event()] }], `k-${i}`)
          : i % 3 === 1 ? one(id, 'no_stream', [event()]) : keyed(one(id, 'no_stream', [event()]).streams, `k-${i}`))),
      ]);
      expect(results.every((r) => r.ok)).toBe(true);
      // Batched, keyed ones too: fewer transactions than keyed appends.
      const keyedResults = results.filter((_, i) => i % 3 !== 1 || i === 0);
      expect(new Set(keyedResults.map((r) => r.ok && r.transactionId)).size).toBeLessThan(keyedResults.length);
      for (const [i, r] of results.entries()) {
        const stored = await opened.store.findIdempotencyKey(`k-${i}`);
        if (i % 3 === 1 && i !== 0) {
          expect(stored).toBeNull();
          continue;
        }
        expect(stored).toEqual({ key: `k-${i}`, requestHash: `h-k-${i}`, result: { append: r, command: { commandId: `c-k-${i}` } } });
      }
      expect(results[0]!.ok && results[0]!.streams).toEqual([{ streamId: 'kg-0', version: 2 }, { streamId: 'kg-z', version: 1 }]);
      expect(results[0]!.ok && results[0]!.events.map((e) => e.streamId)).toEqual(['kg-0', 'kg-0', 'kg-z']);

      // The same key twice at once, on different streams: one appends, the other is refused and writes nothing.
      const [a, b] = await Promise.all([
        opened.store.append(keyed(one('kg-a', 'no_stream', [event()]).streams, 'k-twice')),
        opened.store.append(keyed(one('kg-b', 'no_stream', [event()]).streams, 'k-twice')),
      ]);
      expect([a, b].filter((r) => r.ok)).toHaveLength(1);
      expect([a, b].filter((r) => !r.ok)).toEqual([{ ok: false, reason: 'idempotency_key_exists', key: 'k-twice' }]);
      const versions = await Promise.all(['kg-a', 'kg-b'].map(async (id) => (await opened.store.readStream(id, { count: 1, direction: 'forward' })).version));
      expect(versions.sort()).toEqual([0, 1]);
      expect((await opened.store.findIdempotencyKey('k-twice'))!.result.append).toEqual(a!.ok ? a : b);
    });

    it('keeps snapshots by version and ignores those of another schema version', async () => {
      // 9 and 10: the latest by number, not by text.
      await opened.store.saveSnapshot({ streamId: 'thing-1', version: 10, schemaVersion: 1, state: { n: 10 } });
      await opened.store.saveSnapshot({ streamId: 'thing-1', version: 9, schemaVersion: 1, state: { n: 9 } });
      await opened.store.saveSnapshot({ streamId: 'thing-1', version: 300, schemaVersion: 2, state: { n: 300 } });
      expect(await opened.store.loadSnapshot('thing-1', 1)).toEqual({ streamId: 'thing-1', version: 10, schemaVersion: 1, state: { n: 10 } });
      expect(await opened.store.loadSnapshot('thing-2', 1)).toBeNull();
    });

    it('lists streams by prefix in id order, after a cursor, with their first and last events', async () => {
      for (const id of ['acc-b', 'acc-a', 'acc-c', 'other-a']) await opened.store.append(one(id, 'no_stream', [event('First'), event('Last')]));
      const page1 = await opened.store.listStreams({ prefix: 'acc-', limit: 2 });
      expect(page1.map((s) => s.streamId)).toEqual(['acc-a', 'acc-b']);
      expect(page1[0]).toMatchObject({ version: 2, first: { type: 'First' }, last: { type: 'Last' } });
      const page2 = await opened.store.listStreams({ prefix: 'acc-', after: 'acc-b', limit: 2 });
      expect(page2.map((s) => s.streamId)).toEqual(['acc-c']);
    });

    it('refuses UPDATE, DELETE and TRUNCATE of events in the database itself', async () => {
      await opened.store.append(one('thing-1', 'no_stream', [event()]));
      await expect(opened.sql.query(`UPDATE events SET event_data = '{"n": 2}'`)).rejects.toThrow(/append-only: UPDATE/);
      await expect(opened.sql.query('DELETE FROM events')).rejects.toThrow(/append-only: DELETE/);
      await expect(opened.sql.query('TRUNCATE events CASCADE')).rejects.toThrow(/append-only: TRUNCATE/);
      const [stored] = (await opened.store.readAll(0, 10))!.events;
      expect(stored!.data).toEqual({ n: 1 });
    });

    it('chains every stream at append on every path (fast, group-committed, PL/pgSQL, multi-event, multi-stream, any)', async () => {
      await opened.store.append(one('c-1', 'no_stream', [event('Opened', { owner: 'Zoë' }), event()]));        // PL/pgSQL, 2 events
      await opened.store.append(one('c-1', 2, [event('Fast', { n: 2 })]));                                      // fast path
      await Promise.all([opened.store.append(one('c-1', 3, [event(), event()])), opened.store.append(one('c-2', 'any', [event()]))]);
      await opened.store.append({ streams: [
        { streamId: 'c-2', aggregateType: 'Thing', expectedVersion: 1, events: [event()] },
        { streamId: 'c-1', aggregateType: 'Thing', expectedVersion: 5, events: [event(), event()] },
      ], createdBy: 'someone-else' });                                                                            // two streams, fast
      await opened.store.append({ ...one('c-2', 'stream_exists', [event()]), idempotency: { key: 'k-chain', requestHash: 'h', result: {} } });
      const stored = (await opened.store.readAll(0, 100))!.events;
      expect(stored).toHaveLength(10);
      for (const streamId of ['c-1', 'c-2']) {
        const events = stored.filter((e) => e.streamId === streamId).sort((a, b) => a.streamVersion - b.streamVersion);
        let prev = GENESIS_PREV_HASH;
        for (const e of events) {
          const content = contentHash(sha256, e);
          expect(e.prevHash, `${streamId} v${e.streamVersion}`).toBe(prev);
          expect(e.eventHash, `${streamId} v${e.streamVersion}`).toBe(linkHash(sha256, prev, content));
          prev = e.eventHash!;
        }
        const [head] = await opened.sql.query<{ h: string }>(`SELECT encode(last_hash, 'hex') AS h FROM streams WHERE stream_id = $1`, [streamId]);
        expect(head!.h).toBe(prev);
      }
    });

    it('refuses, before writing anything, an event with no canonical form (it could never be verified)', async () => {
      await opened.store.append(one('d-1', 'no_stream', [event()]));
      for (const data of [{ x: 1.5 }, { x: 2 ** 53 }, { x: 'lone \ud800' }]) {
        await expect(opened.store.append(one('d-1', 1, [event('Bad', data)]))).rejects.toThrow(CanonicalEncodingError);
      }
      // One bad request among concurrent good ones fails alone: it never reaches a group-commit batch.
      const results = await Promise.allSettled([opened.store.append(one('d-1', 1, [event('Bad', { x: 0.1 })])), opened.store.append(one('d-1', 1, [event()]))]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled']);
      expect((await opened.store.readStream('d-1', { count: 10, direction: 'forward' })).version).toBe(2);
    });

    it('migrates idempotently: opening the same database again changes nothing', async () => {
      const { migrate } = await import('../../src/adapters/event-store/sql/migrate.js');
      expect(await migrate(opened.sql)).toEqual([]);
      const rows = await opened.sql.query<{ n: string }>('SELECT count(*)::text AS n FROM schema_migrations');
      expect(Number(rows[0]!.n)).toBeGreaterThan(0);
    });
  });
}
