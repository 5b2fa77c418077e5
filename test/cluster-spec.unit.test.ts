// The cluster launcher's plan (src/cli/cluster/cluster-spec.ts), without starting anything: every port is
// distinct, Patroni is configured for the promise (strict synchronous replication, pg_rewind, a timing that
// Patroni accepts), HAProxy routes by Patroni's health endpoints and cuts a demoted primary's sessions, each
// NATS server routes to all three, and the ledger's processes are given every NATS server and 3 replicas.
import { describe, expect, it } from 'vitest';
import {
  haproxyConfig, LEDGER_NODES, natsConfig, PATRONI_TIMING, patroniConfig, planCluster, type ClusterFile,
} from '../src/cli/cluster/cluster-spec.js';

const runner = { argv: ['/usr/bin/node', '/repo/dist/cli/main.js'], cwd: '/repo' };

describe('cluster plan', () => {
  let plan: ClusterFile;
  const node = (name: string) => plan.nodes.find((n) => n.name === name)!;

  it('names every node, each with its own loopback ports and log', async () => {
    plan = await planCluster('/srv/c', runner);
    expect(plan.nodes.map((n) => n.name)).toStrictEqual([
      'etcd-1', 'etcd-2', 'etcd-3', 'pg-1', 'pg-2', 'pg-3', 'nats-1', 'nats-2', 'nats-3', 'haproxy', ...LEDGER_NODES.map((l) => l.name), 'dashboard-1',
    ]);
    const ports = plan.nodes.flatMap((n) => Object.values(n.ports));
    expect(new Set(ports).size).toBe(ports.length);
    for (const n of plan.nodes) expect(n.log).toBe(`/srv/c/logs/${n.name}.log`);
    expect(plan.superuserPassword.length).toBeGreaterThanOrEqual(16);
    expect(node('pg-1').user).toBe('postgres');
  });

  it('Patroni: strict synchronous mode, pg_rewind with wal_log_hints, loop_wait + 2 x retry_timeout <= ttl = 20', () => {
    expect(PATRONI_TIMING.ttl).toBe(20);
    expect(PATRONI_TIMING.loopWait + 2 * PATRONI_TIMING.retryTimeout).toBeLessThanOrEqual(PATRONI_TIMING.ttl);
    const config = JSON.parse(patroniConfig(plan, node('pg-2')));
    expect(config.bootstrap.dcs).toMatchObject({
      ttl: 20, loop_wait: PATRONI_TIMING.loopWait, retry_timeout: PATRONI_TIMING.retryTimeout, synchronous_mode: true, synchronous_mode_strict: true,
      postgresql: { use_pg_rewind: true, parameters: { wal_log_hints: 'on' } },
    });
    expect(config.postgresql.authentication.superuser.password).toBe(plan.superuserPassword);
    expect(config.postgresql.pg_hba).toContain('host replication replicator 127.0.0.1/32 scram-sha-256');
    expect(config.postgresql.listen).toBe(`127.0.0.1:${node('pg-2').ports['postgres']}`);
    expect(config.etcd3.hosts).toHaveLength(3);
  });

  it('HAProxy: primary and replica ports by GET /primary and GET /replica, fast checks, sessions cut when marked down', () => {
    const cfg = haproxyConfig(plan, node('haproxy'));
    expect(cfg).toContain('option httpchk GET /primary');
    expect(cfg).toContain('option httpchk GET /replica');
    expect(cfg.match(/default-server inter 1s fall 2 rise 1 on-marked-down shutdown-sessions/g)).toHaveLength(2);
    for (const pg of ['pg-1', 'pg-2', 'pg-3']) expect(cfg).toContain(`server ${pg} 127.0.0.1:${node(pg).ports['postgres']} check port ${node(pg).ports['rest']}`);
  });

  it('NATS: a named server routing to all three, its own store and monitoring port; the ledger gets every server and 3 replicas', () => {
    const cfg = natsConfig(plan, node('nats-3'));
    expect(cfg).toContain('server_name: "nats-3"');
    expect(cfg.match(/nats-route:\/\//g)).toHaveLength(3);
    expect(cfg).toContain(`http: "127.0.0.1:${node('nats-3').ports['monitor']}"`);
    expect(cfg).toContain('/srv/c/nats-3/store');
    const api = node('api-1');
    expect(api.command).toStrictEqual([...runner.argv, 'ledger-api']);
    expect(api.env['NATS_URL']!.split(',')).toStrictEqual(plan.natsUrls);
    expect(api.env['NATS_STREAM_REPLICAS']).toBe('3');
    expect(api.env['DATABASE_URL']).toBe(plan.databaseUrl);
    // The admin key is never written into cluster.json: it is read from its own file at each start.
    expect(JSON.stringify(plan)).not.toContain('CHRONICLE_BOOTSTRAP_KEY":"chr_');
  });
});
