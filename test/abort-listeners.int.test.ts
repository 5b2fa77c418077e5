// A long-lived AbortSignal (a follower's, the sealer's, a live subscriber's) must not collect an abort
// listener per wait. The bug behind issue 13's three MaxListenersExceededWarning: a caught-up follower raced
// `wake.next(poll)` against `abortableSleep(poll, signal)`; each append woke it and the losing sleep kept its
// listener on the signal until its own timer fired, so a follower woken more than 10 times per poll interval
// piled up more than 10 listeners. The tests count the listeners (events.getEventListeners) after many
// wake-ups with a long poll interval, where the leak would have left one per wake-up, and check that Node
// printed no MaxListenersExceededWarning meanwhile. On the embedded store (PGlite): no service needed.
import { getEventListeners } from 'node:events';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ChangeSignal } from '../src/application/change-signal.js';
import { LiveFeed } from '../src/application/live-feed.js';
import { followAllPages, subscribeAll } from '../src/application/subscription.js';
import { createLedger, type Ledger } from '../src/ledger.js';
import type { EventStore } from '../src/ports/event-store.js';
import { pgliteTarget, storeFactories, type OpenedStore } from './support/stores.js';

const WAKE_UPS = 40;
/** Far longer than the test: a leaked sleep's listener would still be there when the test counts. */
const POLL_MS = 10_000;

const abortListeners = (signal: AbortSignal): number => getEventListeners(signal, 'abort').length;

const warnings: Error[] = [];
const onWarning = (warning: Error) => { if (warning.name === 'MaxListenersExceededWarning') warnings.push(warning); };
process.on('warning', onWarning);
afterAll(() => { process.off('warning', onWarning); });
afterEach(() => { expect(warnings.map((w) => w.message)).toEqual([]); });

let seq = 0;
async function appendOne(store: EventStore): Promise<void> {
  seq += 1;
  await store.append({
    createdBy: 'test',
    streams: [{ streamId: `leak-${seq}`, aggregateType: 'test', expectedVersion: 'no_stream', events: [{ eventId: crypto.randomUUID(), type: 'Noted', data: { n: seq } }] }],
  });
}

describe('wait helpers leave nothing on the signal', () => {
  it('ChangeSignal.next(ms, signal): notified, timed out or aborted, no listener, waiter or timer remains', async () => {
    const change = new ChangeSignal();
    const stop = new AbortController();
    for (let i = 0; i < WAKE_UPS; i++) {
      const waiting = change.next(POLL_MS, stop.signal);
      change.notify();
      await waiting;
    }
    await change.next(1, stop.signal);
    expect(abortListeners(stop.signal)).toBe(0);
    expect(change.waiting).toBe(0);
    const pending = change.next(POLL_MS, stop.signal);
    expect(abortListeners(stop.signal)).toBe(1);
    stop.abort();
    await pending; // resolves at once on abort, not after POLL_MS
    expect(change.waiting).toBe(0);
    expect(abortListeners(stop.signal)).toBe(0);
  });
});

describe('followers woken by every append (the relay and the sealer)', () => {
  let opened: OpenedStore;
  beforeAll(async () => {
    const pglite = (await storeFactories()).find((f) => f.name === 'pglite');
    if (!pglite) throw new Error('no pglite store factory');
    opened = await pglite.open();
  });
  afterAll(async () => { await opened.close(); });

  it(`followAllPages with wake: after ${WAKE_UPS} wake-ups the signal holds at most one listener`, async () => {
    const wake = new ChangeSignal();
    const stop = new AbortController();
    const before = abortListeners(stop.signal);
    const pages = await followAllPages(opened.store, 0, { signal: stop.signal, wake, pollIntervalMs: POLL_MS, wakeGapMs: 0 });
    if (!pages) throw new Error('no $all');
    let seen = 0;
    const consumer = (async () => { for await (const page of pages) seen += page.length; })();
    for (let i = 0; i < WAKE_UPS; i++) {
      const target = seen + 1;
      await appendOne(opened.store);
      // Notify until the follower has read it: it may not be waiting yet when the first notify comes.
      await expect.poll(() => { wake.notify(); return seen; }, { timeout: 5_000, interval: 5 }).toBeGreaterThanOrEqual(target);
    }
    // The follower is waiting again now: one listener for that wait, none left from the 40 before it.
    expect(abortListeners(stop.signal) - before).toBeLessThanOrEqual(1);
    expect(wake.waiting).toBeLessThanOrEqual(1);
    stop.abort();
    wake.notify();
    await consumer;
    expect(abortListeners(stop.signal)).toBe(0);
  });

  it(`subscribeAll caught up on the live feed: after ${WAKE_UPS} feed reads the signal holds at most one listener`, async () => {
    const wake = new ChangeSignal();
    const feed = new LiveFeed(opened.store, { pageSize: 100, pollIntervalMs: POLL_MS, wake, wakeGapMs: 0, bufferEventsMax: 1_000, ringEventsMax: 100 });
    const stop = new AbortController();
    const from = (await opened.store.readAll(0, 1_000))!.events.at(-1)?.globalPosition ?? 0;
    const events = await subscribeAll(feed, opened.store, from, { signal: stop.signal, pollIntervalMs: POLL_MS });
    if (!events) throw new Error('no $all');
    let seen = 0;
    const consumer = (async () => { for await (const _ of events) seen += 1; })();
    for (let i = 0; i < WAKE_UPS; i++) {
      await appendOne(opened.store);
      await expect.poll(() => { wake.notify(); return seen; }, { timeout: 5_000, interval: 5 }).toBe(i + 1);
    }
    // The subscriber's own `leave` listener, and at most one for a wait in progress.
    expect(abortListeners(stop.signal)).toBeLessThanOrEqual(2);
    stop.abort();
    await consumer;
    await feed.close();
    expect(abortListeners(stop.signal)).toBe(0);
  });
});

describe('Sealer.waitForSize on one long-lived signal', () => {
  let ledger: Ledger;
  beforeAll(async () => {
    // The sealer reads $all every 20 ms, not every 200: each of the waits below is reached within a poll, and
    // what is counted (listeners left on the signal) does not depend on how soon.
    ledger = await createLedger({ store: await pgliteTarget(), roles: ['ledger-api'], audit: { sealer: { pollIntervalMs: 20 } } });
  });
  afterAll(async () => { await ledger.close(); });

  it(`${WAKE_UPS} waits that are reached remove their abort listeners`, async () => {
    const stop = new AbortController();
    const sealer = ledger.sealer!;
    for (let i = 0; i < WAKE_UPS; i++) {
      const response = await ledger.app.inject({
        method: 'POST', url: '/commands/create-account', headers: { 'content-type': 'application/json' },
        payload: JSON.stringify({ accountId: `W${i}`, owner: 'Ada', currency: 'EUR' }),
      });
      expect([201, 401]).toContain(response.statusCode);
      if (response.statusCode === 401) throw new Error('the embedded ledger wants a key here: adjust the test');
      await sealer.waitForSize(i + 1, stop.signal);
    }
    expect(abortListeners(stop.signal)).toBe(0);
  });
});
