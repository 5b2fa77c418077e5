'use client';
// Live metrics from the API's Prometheus page (scraped every 2 s, derived here: rates from counter deltas,
// latency quantiles from histogram bucket deltas over the last 10 s, with the same reader as `npm run bench`:
// src/adapters/metrics/prometheus-text.ts) and the health of every component. Each chart's axes carry their
// units (the x axis is seconds before the latest scrape); gauges (lag, dead letters) are drawn as steps, as
// they were sampled, never smoothed into curves they did not take; and a ledger that has not had a command
// yet says "no traffic yet" rather than drawing empty axes.
import { useRef, type ReactNode } from 'react';
import { CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { health, metricsText } from '@/lib/api';
import { usePolling } from '@/lib/hooks';
import { formatCount } from '@/lib/money';
import { histogramDelta, histogramOf, histogramQuantile, metricValue, parseMetrics, type MetricSample } from '@ledger/adapters/metrics/prometheus-text';
import { Badge, Card, Empty, ErrorNote, Loading, PageHeader, Stat } from '@/components/ui';

const SCRAPE_MS = 2_000;
const KEEP = 90; // three minutes
const WINDOW = 5; // scrapes in a latency window (10 s)

interface Point {
  t: number;
  eventsPerSecond: number | null;
  commandsPerSecond: number | null;
  p50: number | null;
  p95: number | null;
  p99: number | null;
  relayLag: number | null;
  projectionLag: number | null;
  projectionLagMs: number | null;
  deadLetters: number | null;
  unsigned: number | null;
  /** Commands and events since the process started (counters): 0 and 0 is a ledger with no traffic yet. */
  commandsTotal: number;
  eventsTotal: number;
}

interface Scrape { t: number; samples: MetricSample[] }

function derive(history: Scrape[]): Point | null {
  const now = history.at(-1);
  const prev = history.at(-2);
  if (!now) return null;
  const old = history[Math.max(0, history.length - 1 - WINDOW)]!;
  const seconds = prev ? (now.t - prev.t) / 1000 : 0;
  const rate = (name: string) => {
    if (!prev || seconds <= 0) return null;
    const a = metricValue(prev.samples, name);
    const b = metricValue(now.samples, name);
    return a === undefined || b === undefined ? null : Math.max(0, (b - a) / seconds);
  };
  const latency = (q: number) => {
    if (old === now) return null;
    const delta = histogramDelta(histogramOf(old.samples, 'chronicle_command_duration_seconds'), histogramOf(now.samples, 'chronicle_command_duration_seconds'));
    const v = delta ? histogramQuantile(delta, q) : null;
    return v === null ? null : Math.round(v.value * 10_000) / 10;
  };
  const gauge = (name: string) => metricValue(now.samples, name) ?? null;
  const lagSeconds = gauge('chronicle_projection_lag_seconds');
  return {
    t: now.t,
    eventsPerSecond: rate('chronicle_events_appended_total'),
    commandsPerSecond: rate('chronicle_commands_total'),
    p50: latency(0.5), p95: latency(0.95), p99: latency(0.99),
    relayLag: gauge('chronicle_relay_lag_events'),
    projectionLag: gauge('chronicle_projection_lag_events'),
    projectionLagMs: lagSeconds === null ? null : Math.round(lagSeconds * 1000),
    deadLetters: gauge('chronicle_projection_dead_letters_total'),
    unsigned: gauge('chronicle_merkle_unsigned_leaves'),
    commandsTotal: gauge('chronicle_commands_total') ?? 0,
    eventsTotal: gauge('chronicle_events_appended_total') ?? 0,
  };
}

function useScrapes() {
  const scrapes = useRef<Scrape[]>([]);
  const points = useRef<Point[]>([]);
  const { data, error } = usePolling(async (signal) => {
    const samples = parseMetrics(await metricsText(signal));
    scrapes.current = [...scrapes.current, { t: Date.now(), samples }].slice(-(WINDOW + 2));
    const point = derive(scrapes.current);
    if (point) points.current = [...points.current, point].slice(-KEEP);
    return points.current;
  }, SCRAPE_MS);
  return { points: data ?? [], error };
}

const X_STEPS_SECONDS = [1, 2, 5, 10, 15, 30, 60];

/** The x axis: from the oldest point kept (at most three minutes back) to now, a tick every round number of seconds. */
function secondsAxis(spanSeconds: number): { domain: [number, number]; ticks: number[] } {
  const span = Math.max(2, Math.ceil(spanSeconds));
  const step = X_STEPS_SECONDS.find((s) => span / s <= 4) ?? 60;
  const ticks: number[] = [];
  for (let t = 0; t >= -span; t -= step) ticks.unshift(t);
  return { domain: [-span, 0], ticks };
}

type LineKey = 'eventsPerSecond' | 'commandsPerSecond' | 'p50' | 'p95' | 'p99' | 'relayLag' | 'projectionLag' | 'deadLetters';

/**
 * A chart of the last three minutes (or since the page opened). x: seconds before the latest scrape ("now" at
 * the right), so the axis needs no clock time; y: `unit`, named on the axis. `step`: a gauge, drawn as the level it held until the
 * next scrape. `quiet`: shown instead of the chart (no scrape yet, no traffic yet); `empty`: what to say
 * instead of axes when no point has a value.
 */
function LiveChart({ points, lines, unit, step, empty, quiet, testId }: {
  points: Point[]; lines: { key: LineKey; name: string; color: string }[]; unit: string; step?: boolean; empty: ReactNode; quiet: ReactNode | null; testId: string;
}) {
  const latest = points.at(-1)?.t ?? 0;
  const data = points.map((p) => ({ ...p, ago: (p.t - latest) / 1000 }));
  const x = secondsAxis(-(data[0]?.ago ?? 0));
  const hasData = points.some((p) => lines.some((l) => p[l.key] !== null));
  if (quiet !== null || !hasData) return <div className="chart chart-empty" data-testid={testId} data-empty="true"><Empty>{quiet ?? empty}</Empty></div>;
  return (
    <div className="chart" data-testid={testId} data-empty="false">
      <ResponsiveContainer width="100%" height="100%">
        <LineChart data={data} margin={{ top: 8, right: 16, bottom: 0, left: 4 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e3e6eb" />
          {/* No x axis line: it would hide a line at 0 (no lag, no dead letters), the reading that matters most. */}
          <XAxis dataKey="ago" type="number" domain={x.domain} ticks={x.ticks} interval={0} allowDataOverflow fontSize={11} axisLine={false}
            tickFormatter={(s: number) => (s === 0 ? 'now' : `${s} s`)} />
          <YAxis fontSize={11} width={56} allowDecimals
            label={{ value: unit, angle: -90, position: 'insideLeft', offset: 8, fontSize: 11, fill: '#5b6678' }} />
          <Tooltip labelFormatter={(s) => (Number(s) === 0 ? 'now' : `${-Number(s)} s ago`)} formatter={(v, name) => [`${v ?? '—'} ${unit}`, name]} />
          <Legend wrapperStyle={{ fontSize: 12 }} />
          {lines.map((l) => <Line key={l.key} type={step ? 'stepAfter' : 'linear'} dataKey={l.key} name={l.name} stroke={l.color} dot={false} isAnimationActive={false} connectNulls />)}
        </LineChart>
      </ResponsiveContainer>
    </div>
  );
}

export default function MetricsPage() {
  const { points, error } = useScrapes();
  const last = points.at(-1);
  const h = usePolling((signal) => health(signal), 3_000);
  // No command and no event since the process started: every chart says so instead of drawing empty axes.
  const noTraffic = last !== undefined && last.commandsTotal === 0 && last.eventsTotal === 0;
  const quiet: ReactNode | null = points.length === 0 ? <Loading lines={2} />
    : noTraffic ? <span data-testid="no-traffic">No traffic yet: the charts start with the first command.</span>
    : null;
  const fmt = (v: number | null | undefined, digits = 0) => (v === null || v === undefined ? '—' : v.toLocaleString(undefined, { maximumFractionDigits: digits }));
  return (
    <>
      <PageHeader title="Metrics & health" subtitle="From the API's /metrics, scraped every 2 s by this page; latency quantiles over the last 10 s." />
      <ErrorNote error={error} />
      <Card title="Components" testId="health">
        {h.error ? <ErrorNote error={h.error} /> : !h.data ? <Loading /> : (
          <div className="table-wrap">
            <table>
              <thead><tr><th>Component</th><th>Status</th><th>Detail</th></tr></thead>
              <tbody>
                {Object.entries(h.data.components).map(([name, c]) => (
                  <tr key={name} data-testid="health-row" data-component={name} data-status={c.status}>
                    <td>{name}</td>
                    <td><span className={`dot ${c.status === 'up' ? 'good' : c.status === 'down' ? 'bad' : 'warn'}`} /><Badge tone={c.status === 'up' ? 'good' : c.status === 'down' ? 'bad' : 'warn'}>{c.status}</Badge></td>
                    <td className="small mono">{c.error ?? Object.entries(c).filter(([k]) => k !== 'status').map(([k, v]) => `${k}: ${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' · ')}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </Card>
      <div style={{ height: 16 }} />
      <div className="grid cols-4" style={{ marginBottom: 16 }}>
        <Stat label="Events / s" value={fmt(last?.eventsPerSecond, 1)} note={`${fmt(last?.commandsPerSecond, 1)} commands / s`} testId="events-per-second" />
        <Stat label="Command latency p99" value={last?.p99 === null || last?.p99 === undefined ? '—' : `${fmt(last.p99, 1)} ms`} note={`p50 ${fmt(last?.p50, 1)} · p95 ${fmt(last?.p95, 1)} ms`} />
        <Stat label="Projection lag" value={`${formatCount(last?.projectionLag)} events`} note={`${fmt(last?.projectionLagMs)} ms · relay ${formatCount(last?.relayLag)} events behind`} />
        <Stat label="Dead letters" value={<span data-testid="dead-letters">{formatCount(last?.deadLetters)}</span>} note={last?.unsigned === null || last?.unsigned === undefined ? 'audit: sealer not in this process' : `audit: ${formatCount(last.unsigned)} leaves awaiting a signature`} />
      </div>
      <div className="grid cols-2">
        <Card title="Throughput"><LiveChart points={points} unit="per second" testId="chart-throughput" quiet={quiet} empty="Waiting for a second scrape (2 s)…"
          lines={[{ key: 'eventsPerSecond', name: 'events/s', color: '#2952cc' }, { key: 'commandsPerSecond', name: 'commands/s', color: '#12805c' }]} /></Card>
        <Card title="Command latency"><LiveChart points={points} unit="ms" testId="chart-latency" quiet={quiet} empty="No command since this page opened: latency appears with the next one."
          lines={[{ key: 'p50', name: 'p50', color: '#12805c' }, { key: 'p95', name: 'p95', color: '#a15c00' }, { key: 'p99', name: 'p99', color: '#c0392b' }]} /></Card>
        <Card title="Lag"><LiveChart points={points} unit="events behind" step testId="chart-lag" quiet={quiet} empty="Lag is not measured in this process."
          lines={[{ key: 'relayLag', name: 'relay', color: '#6b4fbb' }, { key: 'projectionLag', name: 'projection', color: '#2952cc' }]} /></Card>
        <Card title="Dead letters"><LiveChart points={points} unit="events" step testId="chart-dead-letters" quiet={quiet} empty="Dead letters are not counted in this process."
          lines={[{ key: 'deadLetters', name: 'dead letters', color: '#c0392b' }]} /></Card>
      </div>
    </>
  );
}
