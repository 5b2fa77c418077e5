// GET /cluster and the chaos routes, on the embedded ledger, with a ClusterControl of the test's own standing
// in for the launcher (the launcher itself is exercised by test/cluster.e2e.test.ts):
// - without the launcher: managed false, no nodes; kill and restart answer 409 cluster_not_managed;
// - with it: the nodes as the control gives them; kill/restart reach the control and answer 202; an unknown
//   node is 404 node_not_found listing the nodes; a malformed name is 400 before the control is asked;
// - a part that cannot be read (the control failing, Patroni not answering) is reported in the 200, never a 500;
//   a Patroni node that does not answer is `down`.
import { createServer } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { createLedger, type Ledger } from '../src/ledger.js';
import type { ClusterActionOutcome, ClusterControl, ClusterNodeView } from '../src/ports/cluster-control.js';
import { pgliteTarget } from './support/stores.js';

const NODES: ClusterNodeView[] = [
  { name: 'pg-1', kind: 'postgres', role: 'primary', sync: false, lagBytes: 0 },
  { name: 'pg-2', kind: 'postgres', role: 'replica', sync: true, lagBytes: 0 },
  { name: 'nats-1', kind: 'nats', role: 'up', sync: false, lagBytes: null },
  { name: 'nats-2', kind: 'nats', role: 'down', sync: false, lagBytes: null },
];

function control(): ClusterControl & { calls: string[]; failStatus: boolean } {
  const calls: string[] = [];
  const act = (action: string) => async (name: string): Promise<ClusterActionOutcome> => {
    calls.push(`${action} ${name}`);
    return NODES.some((n) => n.name === name) ? { kind: 'done', detail: `${action} ${name}` } : { kind: 'node_not_found', nodes: NODES.map((n) => n.name) };
  };
  const c = {
    calls, failStatus: false,
    status: async () => {
      if (c.failStatus) throw new Error('cluster.json unreadable');
      return NODES;
    },
    kill: act('kill'), restart: act('restart'), isSelf: () => false,
  };
  return c;
}

/** A loopback port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('GET /cluster, POST /cluster/nodes/{name}/kill|restart', () => {
  const ledgers: Ledger[] = [];
  afterAll(async () => {
    for (const l of ledgers) await l.close();
  });

  it('without the launcher: not managed, and the chaos routes answer 409 cluster_not_managed', async () => {
    const ledger = await createLedger({ store: await pgliteTarget(), processMetrics: false });
    ledgers.push(ledger);
    const view = await ledger.app.inject({ url: '/cluster' });
    expect(view.statusCode).toBe(200);
    expect(view.json()).toMatchObject({ managed: false, nodes: [], postgres: [] });
    for (const action of ['kill', 'restart']) {
      const response = await ledger.app.inject({ method: 'POST', url: `/cluster/nodes/pg-1/${action}` });
      expect(response.statusCode).toBe(409);
      expect(response.json().error.code).toBe('cluster_not_managed');
    }
  });

  it('under the launcher: the nodes, the NATS servers, 202 for a known node, 404 for an unknown one, 400 for a malformed name', async () => {
    const c = control();
    const ledger = await createLedger({ store: await pgliteTarget(), processMetrics: false, clusterControl: c });
    ledgers.push(ledger);
    const view = (await ledger.app.inject({ url: '/cluster' })).json();
    expect(view.managed).toBe(true);
    expect(view.nodes.map((n: ClusterNodeView) => `${n.name}:${n.role}`)).toEqual(['pg-1:primary', 'pg-2:replica', 'nats-1:up', 'nats-2:down']);
    expect(view.nats).toMatchObject({ degraded: true, servers: [{ name: 'nats-1', role: 'up' }, { name: 'nats-2', role: 'down' }] });

    const kill = await ledger.app.inject({ method: 'POST', url: '/cluster/nodes/pg-1/kill' });
    expect(kill.statusCode).toBe(202);
    expect(kill.json()).toEqual({ node: 'pg-1', action: 'kill', detail: 'kill pg-1' });
    expect((await ledger.app.inject({ method: 'POST', url: '/cluster/nodes/nats-2/restart' })).statusCode).toBe(202);
    const unknown = await ledger.app.inject({ method: 'POST', url: '/cluster/nodes/pg-9/kill' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error).toMatchObject({ code: 'node_not_found', details: { nodes: NODES.map((n) => n.name) } });
    const malformed = await ledger.app.inject({ method: 'POST', url: '/cluster/nodes/PG_1!/kill' });
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error.code).toBe('validation_failed');
    expect(c.calls).toEqual(['kill pg-1', 'restart nats-2', 'kill pg-9']);
  });

  it('a part that cannot be read is reported in a 200, never a 500; a Patroni node that does not answer is down', async () => {
    const c = control();
    c.failStatus = true;
    const port = await closedPort();
    const ledger = await createLedger({
      store: await pgliteTarget(), processMetrics: false, clusterControl: c, patroniUrls: [`http://127.0.0.1:${port}`],
    });
    ledgers.push(ledger);
    const response = await ledger.app.inject({ url: '/cluster' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      managed: true, nodes: [], nodesError: 'cluster.json unreadable',
      postgres: [{ name: `http://127.0.0.1:${port}`, role: 'down', sync: false, lagBytes: null }],
    });
    const health = (await ledger.app.inject({ url: '/health' })).json();
    expect(health.components.postgresNodes.status).toBe('degraded');
  });
});
