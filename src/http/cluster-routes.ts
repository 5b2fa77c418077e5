// The Cluster page's API (admin only): GET /cluster shows the database nodes (Patroni), the NATS side and,
// under the cluster launcher, every node with its status; POST /cluster/nodes/{name}/kill and /restart are
// the chaos buttons, offered only under the launcher (409 cluster_not_managed otherwise). What they read and
// do comes through src/ports/cluster-control.ts: this layer never sees the launcher.
import type { FastifyInstance } from 'fastify';
import { NODE_NAME_LENGTH_MAX } from '../domain/limits.js';
import type { ClusterSource, NatsView, PostgresNodeView } from '../ports/cluster-control.js';
import { ApiError, ERROR_SCHEMA } from './errors.js';

const errors = { '4xx': ERROR_SCHEMA, '5xx': ERROR_SCHEMA };
const NODE = { type: 'string', pattern: `^[a-z0-9][a-z0-9-]{0,${NODE_NAME_LENGTH_MAX - 1}}$` } as const;
const ROLE = { type: 'string', enum: ['primary', 'replica', 'starting', 'up', 'degraded', 'down'] } as const;
const ACTION_ANSWER = {
  type: 'object',
  properties: { node: { type: 'string' }, action: { type: 'string', enum: ['kill', 'restart'] }, detail: { type: 'string' } },
} as const;

/** A part that cannot be read now is reported as such, never a 500: the page shows what it has. */
async function settle<T>(read: (() => Promise<T>) | undefined): Promise<T | { error: string } | null> {
  if (read === undefined) return null;
  try {
    return await read();
  } catch (error) {
    return { error: (error as Error).message };
  }
}

export async function clusterRoutes(app: FastifyInstance, deps: ClusterSource) {
  app.get('/cluster', {
    config: { access: 'admin' },
    schema: {
      operationId: 'getCluster',
      summary: 'The nodes of the high-availability stack: PostgreSQL (Patroni), NATS and, under `chronicle cluster up` (managed), every node with its status',
      tags: ['operations'],
      response: {
        200: {
          type: 'object',
          properties: {
            managed: { type: 'boolean' },
            nodes: {
              type: 'array',
              items: {
                type: 'object',
                properties: {
                  name: { type: 'string' }, kind: { type: 'string' }, role: ROLE, sync: { type: 'boolean' },
                  lagBytes: { type: ['number', 'null'] }, url: { type: 'string' }, detail: { type: 'string' },
                },
              },
            },
            postgres: { type: 'array', items: { type: 'object', additionalProperties: true } },
            postgresError: { type: 'string' },
            nodesError: { type: 'string' },
            nats: { type: ['object', 'null'], additionalProperties: true },
          },
        },
        ...errors,
      },
    },
  }, async (_request, reply) => {
    reply.header('cache-control', 'no-store');
    const [nodes, postgres, nats] = await Promise.all([settle(deps.control?.status), settle(deps.postgres), settle(deps.nats)]);
    const pg = postgres === null ? [] : 'error' in postgres ? null : postgres;
    let natsView: NatsView | { error: string } | null = nats;
    // Without a bus in this process (a ledger-api), the launcher's NATS servers.
    if (natsView === null && Array.isArray(nodes)) {
      const servers = nodes.filter((n) => n.kind === 'nats').map((n) => ({ name: n.name, role: n.role, ...(n.detail === undefined ? {} : { detail: n.detail }) }));
      natsView = { servers, degraded: servers.some((s) => s.role !== 'up') };
    }
    return {
      managed: deps.control !== undefined,
      nodes: Array.isArray(nodes) ? nodes : [],
      ...(nodes !== null && !Array.isArray(nodes) ? { nodesError: nodes.error } : {}),
      postgres: (pg ?? []) as PostgresNodeView[],
      ...(pg === null ? { postgresError: (postgres as { error: string }).error } : {}),
      nats: natsView,
    };
  });

  for (const action of ['kill', 'restart'] as const) {
    app.post<{ Params: { name: string } }>(`/cluster/nodes/:name/${action}`, {
      config: { access: 'admin' },
      schema: {
        operationId: action === 'kill' ? 'killClusterNode' : 'restartClusterNode',
        summary: action === 'kill'
          ? 'SIGKILL to every process of one node (only under `chronicle cluster up`); a kill of the process serving the request answers first'
          : 'Start one node again (only under `chronicle cluster up`); answers once it is started, before it is ready',
        tags: ['operations'],
        params: { type: 'object', additionalProperties: false, required: ['name'], properties: { name: NODE } },
        response: { 202: ACTION_ANSWER, ...errors },
      },
    }, async (request, reply) => {
      const control = deps.control;
      if (control === undefined) {
        throw new ApiError('cluster_not_managed', 'this ledger was not started by `chronicle cluster up`: it has no nodes to kill or start');
      }
      const { name } = request.params;
      const outcome = action === 'kill' ? await control.kill(name) : await control.restart(name);
      if (outcome.kind === 'node_not_found') throw new ApiError('node_not_found', `no node ${name}`, { nodes: outcome.nodes });
      // The launcher killed the rest of this process's node; this process goes once its answer is on the wire.
      if (action === 'kill' && control.isSelf(name)) reply.raw.once('finish', () => setTimeout(() => process.kill(process.pid, 'SIGKILL'), 50));
      request.log.warn({ node: name, action }, `cluster: ${outcome.detail}`);
      return reply.status(202).send({ node: name, action, detail: outcome.detail });
    });
  }
}
