// Structured JSON logs carry the correlation id from the command (the request's X-Correlation-Id) to its
// events (metadata.correlationId), to the relay that publishes them and the projection that applies them:
// one id to grep for across every process of the flow.
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from '../src/ledger.js';

const lines: Record<string, unknown>[] = [];
let ledger: Ledger;
beforeAll(async () => {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  ledger = await createLedger({ store: { kind: 'pglite' }, processMetrics: false, logger: { level: 'debug' }, logStream: stream });
});
afterAll(async () => {
  await ledger?.close();
});

describe('logs', () => {
  it('one correlation id from the request through the events to the relay and the projection, as JSON lines', async () => {
    const id = 'trace-7f3a9c';
    const post = (url: string, payload: object) => ledger.app.inject({ method: 'POST', url, payload, headers: { 'x-correlation-id': id } });
    expect((await post('/commands/create-account', { accountId: 'LOG1', owner: 'L', currency: 'EUR' })).statusCode).toBe(201);
    const deposit = await post('/commands/deposit', { accountId: 'LOG1', amount: '10' });
    expect(deposit.headers['x-correlation-id']).toBe(id);
    const { globalPosition, eventIds } = deposit.json() as { globalPosition: number; eventIds: string[] };
    expect((await ledger.app.inject({ url: `/accounts/LOG1/balance?minPosition=${globalPosition}` })).json().freshness.status).toBe('reached');

    const [event] = (await ledger.store.readStream('account-LOG1', { fromVersion: 2, count: 1, direction: 'forward' })).events;
    expect(event!.metadata.correlationId).toBe(id);
    const about = (message: string) => lines.filter((l) => l['msg'] === message && l['eventId'] === eventIds[0]);
    await expect.poll(() => about('published').length).toBe(1);
    expect(about('published')[0]).toMatchObject({ role: 'relay', correlationId: id, globalPosition });
    expect(about('projected')).toEqual([expect.objectContaining({ role: 'read-processor', projection: 'accounts', correlationId: id, outcome: 'applied' })]);
    // The request's own lines carry it too.
    expect(lines.some((l) => l['correlationId'] === id && l['msg'] === 'request completed')).toBe(true);
  });
});
