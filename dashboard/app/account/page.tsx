'use client';
// One account: its balance now (read model), its balance over time (a chart of every event's balanceAfter),
// its history, and time travel: pick any instant and the balance and history are shown as they were then,
// both read from the event store (GET /accounts/{id}/balance?at=, and the history up to that instant).
import { Suspense, useEffect, useMemo, useState } from 'react';
import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { Area, AreaChart, CartesianGrid, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { api } from '@/lib/api';
import { useLoad } from '@/lib/hooks';
import { formatInstant, formatMoney, minorToDecimal } from '@/lib/money';
import { fromLocalInput, isAtOrBefore, justBefore, toLocalInput, toMicros } from '@/lib/instant';
import type { BalanceAnswer, HistoryEntry, HistoryPage } from '@/lib/types';
import { Badge, Card, Empty, ErrorNote, FreshnessBadge, Loading, PageHeader, Stat } from '@/components/ui';
import { useSession } from '@/components/session';

const HISTORY_MAX = 10_000;

async function wholeHistory(id: string, signal: AbortSignal): Promise<HistoryPage> {
  let page = await api<HistoryPage>(`/accounts/${encodeURIComponent(id)}/history?limit=1000`, { signal });
  const entries = [...page.entries];
  while (page.nextFromVersion !== null && entries.length < HISTORY_MAX) {
    page = await api<HistoryPage>(`/accounts/${encodeURIComponent(id)}/history?limit=1000&fromVersion=${page.nextFromVersion}`, { signal });
    entries.push(...page.entries);
  }
  return { ...page, entries };
}

export default function AccountPage() {
  return <Suspense fallback={<Loading />}><Account /></Suspense>;
}

function Account() {
  const id = useSearchParams().get('id') ?? '';
  const { may } = useSession();
  const [at, setAt] = useState<string | null>(null);
  const now = useLoad((signal) => api<BalanceAnswer>(`/accounts/${encodeURIComponent(id)}/balance`, { signal }), [id]);
  const history = useLoad((signal) => (may('auditor') ? wholeHistory(id, signal) : Promise.resolve(null)), [id]);
  const past = useLoad((signal) => (at === null ? Promise.resolve(null) : api<BalanceAnswer>(`/accounts/${encodeURIComponent(id)}/balance?at=${encodeURIComponent(at)}`, { signal })), [id, at]);
  useEffect(() => setAt(null), [id]);

  const currency = now.data?.currency ?? 'EUR';
  const entries = history.data?.entries ?? [];
  const shown = useMemo(() => (at === null ? entries : entries.filter((e) => isAtOrBefore(e.recordedAt, at))), [entries, at]);
  const series = useMemo(() => entries.filter((e) => e.balanceAfter !== undefined || e.type === 'AccountCreated').map((e) => ({
    t: Number((toMicros(e.recordedAt) ?? 0n) / 1000n),
    balance: Number(minorToDecimal(e.balanceAfter ?? '0', currency)),
    label: formatMoney(e.balanceAfter ?? '0', currency),
  })), [entries, currency]);

  if (id === '') return <Empty>No account given. <Link href="/accounts">Pick one from the list.</Link></Empty>;
  return (
    <>
      <PageHeader title={id} subtitle={now.data ? `${now.data.owner} · ${now.data.currency} · opened ${formatInstant(now.data.openedAt)}` : 'Account'}>
        <div className="row">
          {now.data?.freshness && <FreshnessBadge freshness={now.data.freshness} />}
          <button className="secondary" onClick={() => { now.reload(); history.reload(); }}>Refresh</button>
          {may('writer') && <Link className="button" href={`/commands?account=${encodeURIComponent(id)}`}>Move money</Link>}
        </div>
      </PageHeader>
      <ErrorNote error={now.error} />
      <div className="grid cols-3" style={{ marginBottom: 16 }}>
        <Stat label="Balance now" value={now.data ? formatMoney(now.data.balance, now.data.currency) : '…'} note={now.data ? `version ${now.data.version}, position ${now.data.globalPosition}` : undefined} testId="balance-now" />
        <Stat label={at === null ? 'Time travel' : 'Balance then'}
          value={at === null ? <span className="muted" style={{ fontSize: '1rem' }}>pick an instant below</span> : past.loading ? '…' : past.data ? formatMoney(past.data.balance, past.data.currency) : '—'}
          note={at === null ? 'read from the event store' : <>at <span className="mono">{at}</span>{past.data ? ` · version ${past.data.version}` : ''}</>}
          testId="balance-then" />
        <Stat label="Events" value={history.data ? history.data.version : now.data?.version ?? '…'} note={at === null ? 'in the account stream' : `${shown.length} up to the instant`} />
      </div>
      {at !== null && <ErrorNote error={past.error} testId="time-travel-error" />}
      {may('auditor') ? (
        <>
          <Card title="Time travel" testId="time-travel">
            <div className="row end">
              <label className="field">Instant (your local time)
                <input type="datetime-local" step="1" data-testid="time-travel-input" value={at === null ? '' : toLocalInput(at)} onChange={(e) => setAt(fromLocalInput(e.target.value))} />
              </label>
              {entries.length > 1 && (
                <label className="field" style={{ flex: 1, minWidth: 200 }}>…or slide through the account&apos;s events
                  <input type="range" min={0} max={entries.length - 1} step={1} data-testid="time-travel-slider"
                    value={at === null ? entries.length - 1 : Math.max(0, shown.length - 1)}
                    onChange={(e) => setAt(entries[Number(e.target.value)]!.recordedAt)} />
                </label>
              )}
              {at !== null && <button className="secondary" onClick={() => setAt(null)} data-testid="time-travel-now">Back to now</button>}
            </div>
            <p className="small muted" style={{ marginBottom: 0 }}>Every row of the history has a “before” button: the state one microsecond before that event.</p>
          </Card>
          <div style={{ height: 16 }} />
          <Card title="Balance over time">
            {history.loading && !history.data ? <Loading /> : series.length === 0 ? <Empty>No money has moved yet.</Empty> : (
              <div className="chart" data-testid="balance-chart">
                <ResponsiveContainer width="100%" height="100%">
                  <AreaChart data={series} margin={{ top: 8, right: 12, bottom: 0, left: 8 }}>
                    <CartesianGrid strokeDasharray="3 3" stroke="#e3e6eb" />
                    <XAxis dataKey="t" type="number" scale="time" domain={['dataMin', 'dataMax']} tickFormatter={(t: number) => new Date(t).toLocaleTimeString()} fontSize={11} />
                    <YAxis fontSize={11} width={70} />
                    <Tooltip labelFormatter={(t) => new Date(Number(t)).toLocaleString()} formatter={(_v, _n, item) => [(item.payload as { label: string }).label, 'balance']} />
                    <Area type="stepAfter" dataKey="balance" stroke="#2952cc" fill="#e8eefc" isAnimationActive={false} />
                    {at !== null && <ReferenceLine x={Number((toMicros(at) ?? 0n) / 1000n)} stroke="#a15c00" strokeDasharray="4 3" label={{ value: 'then', fontSize: 11, fill: '#a15c00' }} />}
                  </AreaChart>
                </ResponsiveContainer>
              </div>
            )}
          </Card>
          <div style={{ height: 16 }} />
          <Card flush title={at === null ? 'History' : <>History as it was at <span className="mono small">{at}</span></>}>
            <ErrorNote error={history.error} />
            {history.loading && !history.data ? <div style={{ padding: 16 }}><Loading /></div>
              : shown.length === 0 ? <Empty>{at === null ? 'No events.' : 'The account did not exist yet at that instant.'}</Empty>
              : <HistoryTable entries={shown} currency={currency} onBefore={(e) => setAt(justBefore(e.recordedAt))} />}
          </Card>
        </>
      ) : <div className="note info">History and time travel need an auditor key; this key&apos;s role shows balances only.</div>}
    </>
  );
}

function HistoryTable({ entries, currency, onBefore }: { entries: HistoryEntry[]; currency: string; onBefore: (e: HistoryEntry) => void }) {
  const newestFirst = [...entries].reverse();
  return (
    <div className="table-wrap">
      <table data-testid="history-table">
        <thead><tr><th className="num">v</th><th>Event</th><th className="num">Amount</th><th className="num">Balance after</th><th className="hide-narrow">Recorded</th><th className="hide-narrow">By</th><th /></tr></thead>
        <tbody>
          {newestFirst.map((e) => {
            const incoming = e.type === 'MoneyDeposited' || e.type === 'TransferReceived';
            return (
              <tr key={e.eventId} data-testid="history-row" data-type={e.type}>
                <td className="num mono">{e.version}</td>
                <td>
                  <Badge tone={incoming ? 'good' : e.type === 'AccountCreated' ? 'info' : 'bad'}>{e.type}</Badge>
                  {e.counterpartyAccountId && <span className="small muted"> {e.type === 'TransferSent' ? 'to' : 'from'} <Link href={`/account?id=${encodeURIComponent(e.counterpartyAccountId)}`}>{e.counterpartyAccountId}</Link></span>}
                </td>
                <td className={`num ${incoming ? 'amount-in' : 'amount-out'}`}>{e.amount ? `${incoming ? '+' : '−'}${formatMoney(e.amount, currency)}` : ''}</td>
                <td className="num">{e.balanceAfter ? formatMoney(e.balanceAfter, currency) : ''}</td>
                <td className="hide-narrow small mono">{e.recordedAt}</td>
                <td className="hide-narrow small mono">{e.createdBy}</td>
                <td><button className="secondary small" onClick={() => onBefore(e)} title="the state one microsecond before this event" data-testid="before-event">before</button></td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
