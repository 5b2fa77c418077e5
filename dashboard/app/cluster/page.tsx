'use client';
// The Cluster page (admin): every node of the high-availability stack with its role, whether it is the
// synchronous standby and its lag (GET /cluster, every 2 s), the NATS side, the write rate and errors live
// (chronicle_commands_total by outcome, from /metrics every 2 s) and, when the ledger runs under
// `chronicle cluster up`, a kill and a restart button per node, each with a confirm step.
import { useRef, useState } from 'react';
import { api, metricsText } from '@/lib/api';
import { usePolling } from '@/lib/hooks';
import { metricValue, parseMetrics, type MetricSample } from '@ledger/adapters/metrics/prometheus-text';
import { useSession } from '@/components/session';
import { Badge, Card, ErrorNote, Loading, PageHeader, Stat, type Tone } from '@/components/ui';

const POLL_MS = 2_000;

interface NodeView { name: string; kind: string; role: string; sync: boolean; lagBytes: number | null; url?: string; detail?: string }
interface PostgresView { name: string; role: string; sync: boolean; state: string | null; lagBytes: number | null; timeline: number | null }
interface NatsView {
  stream?: string; leader?: string | null; degraded?: boolean; error?: string;
  replicas?: { name: string; current: boolean; offline: boolean; lag: number }[];
  servers?: { name: string; role: string; detail?: string }[];
}
interface ClusterAnswer { managed: boolean; nodes: NodeView[]; postgres: PostgresView[]; postgresError?: string; nats: NatsView | null }

const toneOf = (role: string): Tone => (role === 'primary' || role === 'up' ? 'good' : role === 'replica' ? 'info' : role === 'down' ? 'bad' : 'warn');
const bytes = (n: number | null) => (n === null ? '—' : n < 1024 ? `${n} B` : n < 1024 * 1024 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 1024 / 1024).toFixed(1)} MiB`);

interface Rate { t: number; accepted: number | null; errors: number | null }

/** Commands/s accepted and not (rejected, conflicts, reused keys), from two successive /metrics scrapes. */
function useWriteRate() {
  const last = useRef<{ t: number; samples: MetricSample[] } | null>(null);
  const { data: rate, error } = usePolling(async (signal): Promise<Rate | null> => {
    const now = { t: Date.now(), samples: parseMetrics(await metricsText(signal)) };
    const prev = last.current;
    last.current = now;
    if (!prev) return null;
    const seconds = (now.t - prev.t) / 1000;
    const total = (s: MetricSample[]) => metricValue(s, 'chronicle_commands_total') ?? 0;
    const accepted = (s: MetricSample[]) => metricValue(s, 'chronicle_commands_total', { outcome: 'accepted' }) ?? 0;
    const a = Math.max(0, accepted(now.samples) - accepted(prev.samples)) / seconds;
    const e = Math.max(0, (total(now.samples) - accepted(now.samples)) - (total(prev.samples) - accepted(prev.samples))) / seconds;
    return { t: now.t, accepted: a, errors: e };
  }, POLL_MS);
  return { rate, error };
}

function NodeActions({ node, onDone }: { node: NodeView; onDone: (message: string) => void }) {
  const [confirming, setConfirming] = useState<'kill' | 'restart' | null>(null);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<unknown>(null);
  const run = async (action: 'kill' | 'restart') => {
    setBusy(true);
    setProblem(null);
    try {
      const answer = await api<{ detail: string }>(`/cluster/nodes/${encodeURIComponent(node.name)}/${action}`, { method: 'POST' });
      onDone(answer.detail);
    } catch (e) {
      setProblem(e);
    } finally {
      setBusy(false);
      setConfirming(null);
    }
  };
  if (confirming) {
    return (
      <span className="row small" data-testid={`confirm-${node.name}`}>
        {confirming === 'kill' ? `SIGKILL every process of ${node.name}?` : `Start ${node.name} again?`}
        <button className="small danger" data-testid={`confirm-${confirming}-${node.name}`} disabled={busy} onClick={() => void run(confirming)}>Yes, {confirming}</button>
        <button className="small secondary" disabled={busy} onClick={() => setConfirming(null)}>Cancel</button>
      </span>
    );
  }
  return (
    <span className="row small">
      <button className="small secondary" data-testid={`kill-${node.name}`} disabled={node.role === 'down'} onClick={() => setConfirming('kill')}>Kill</button>
      <button className="small secondary" data-testid={`restart-${node.name}`} onClick={() => setConfirming('restart')}>Restart</button>
      {problem !== null && <ErrorNote error={problem} />}
    </span>
  );
}

export default function ClusterPage() {
  const { may } = useSession();
  const cluster = usePolling((signal) => api<ClusterAnswer>('/cluster', { signal }), POLL_MS);
  const { rate, error: rateError } = useWriteRate();
  const [message, setMessage] = useState<string | null>(null);
  if (!may('admin')) return <><PageHeader title="Cluster" /><ErrorNote error={new Error('The Cluster page is for admin keys.')} /></>;
  const data = cluster.data;
  const fmt = (v: number | null | undefined) => (v === null || v === undefined ? '—' : v.toLocaleString(undefined, { maximumFractionDigits: 1 }));
  const nodes: NodeView[] = data ? (data.managed ? data.nodes : data.postgres.map((p) => ({ name: p.name, kind: 'postgres', role: p.role, sync: p.sync, lagBytes: p.lagBytes, ...(p.state ? { detail: p.state } : {}) }))) : [];
  const primary = nodes.find((n) => n.kind === 'postgres' && n.role === 'primary');
  return (
    <>
      <PageHeader title="Cluster" subtitle={data?.managed
        ? 'Every node of the `chronicle cluster up` stack, read every 2 s; Kill sends SIGKILL to every process of a node, Restart starts it again.'
        : 'The database nodes (Patroni) and the NATS stream, read every 2 s. The kill and restart buttons appear when the ledger runs under `chronicle cluster up`.'} />
      <div className="grid cols-4" style={{ marginBottom: 16 }}>
        <Stat label="Writes / s" value={<span data-testid="write-rate">{fmt(rate?.accepted)}</span>} note="commands accepted by this API (/metrics)" />
        <Stat label="Errors / s" value={<span data-testid="error-rate">{fmt(rate?.errors)}</span>} note="rejected, conflicts, reused keys" />
        <Stat label="Primary" value={<span data-testid="primary">{primary?.name ?? 'none'}</span>} note={primary ? 'takes the writes' : 'writes wait (503) until a replica is promoted'} />
        <Stat label="Managed" value={<span data-testid="managed">{data ? (data.managed ? 'yes' : 'no') : '—'}</span>} note={data?.managed ? 'chronicle cluster up' : 'no launcher: read only'} />
      </div>
      <ErrorNote error={rateError ?? cluster.error} />
      {message && <div className="note" data-testid="action-message">{message}</div>}
      <Card title="Nodes" testId="nodes">
        {!data ? <Loading /> : nodes.length === 0 ? <p className="small">No nodes: this ledger has no PATRONI_URLS and was not started by <code>chronicle cluster up</code>.</p> : (
          <div className="table-wrap">
            <table>
              <thead><tr><th>Node</th><th>Kind</th><th>Role</th><th>Sync</th><th>Lag</th><th>Detail</th>{data.managed && <th />}</tr></thead>
              <tbody>
                {nodes.map((n) => (
                  <tr key={n.name} data-testid="node-row" data-node={n.name} data-kind={n.kind} data-role={n.role} data-sync={String(n.sync)}>
                    <td className="mono">{n.name}</td>
                    <td>{n.kind}</td>
                    <td><span className={`dot ${toneOf(n.role) === 'good' ? 'good' : toneOf(n.role) === 'bad' ? 'bad' : 'warn'}`} /><Badge tone={toneOf(n.role)}>{n.role}</Badge></td>
                    <td>{n.kind === 'postgres' ? (n.sync ? <Badge tone="good">synchronous</Badge> : n.role === 'replica' ? 'async' : '') : ''}</td>
                    <td className="mono">{n.kind === 'postgres' && n.role !== 'down' ? bytes(n.lagBytes) : ''}</td>
                    <td className="small mono">{[n.detail, n.url].filter(Boolean).join(' · ')}</td>
                    {data.managed && <td><NodeActions node={n} onDone={setMessage} /></td>}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
        {data?.postgresError && <div className="note warn">Patroni: {data.postgresError}</div>}
      </Card>
      <div style={{ height: 16 }} />
      <Card title="NATS" testId="nats">
        {!data ? <Loading /> : data.nats === null ? <p className="small">No NATS in this process (the in-process bus, or no launcher to ask).</p> : data.nats.error ? <ErrorNote error={new Error(data.nats.error)} /> : (
          <div className="table-wrap">
            <p className="small">{data.nats.stream ? <>Stream <code>{data.nats.stream}</code>, leader <strong>{data.nats.leader ?? 'none'}</strong>. </> : null}
              {data.nats.degraded ? <Badge tone="warn">degraded</Badge> : <Badge tone="good">all members current</Badge>}</p>
            <table>
              <thead><tr><th>Member</th><th>State</th><th>Detail</th></tr></thead>
              <tbody>
                {(data.nats.servers ?? []).map((s) => (
                  <tr key={s.name} data-testid="nats-row" data-node={s.name} data-role={s.role}><td className="mono">{s.name}</td><td><Badge tone={toneOf(s.role)}>{s.role}</Badge></td><td className="small mono">{s.detail ?? ''}</td></tr>
                ))}
                {(data.nats.replicas ?? []).map((r) => (
                  <tr key={r.name} data-testid="nats-row" data-node={r.name} data-role={r.offline ? 'down' : 'up'}><td className="mono">{r.name}</td><td><Badge tone={r.offline ? 'bad' : r.current ? 'good' : 'warn'}>{r.offline ? 'offline' : r.current ? 'current' : 'behind'}</Badge></td><td className="small mono">lag {r.lag}</td></tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
    </>
  );
}
