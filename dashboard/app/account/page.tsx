'use client';
// One account: its balance now (read model), its balance over time (a chart of every event's balanceAfter),
// its history, and time travel: pick any instant and the balance and history are shown as they were then,
// both read from the event store (GET /accounts/{id}/balance?at=, and the history up to that instant).
// Every time on the page is in one format, local time, said once in the header (lib/instant.ts); the chart's
// value axis fits the balances (lib/chart.ts) and names the currency; an unknown id is said so, plainly.
import { Suspense, useEffect, useMemo, useState } from 'react';
import Link from 'next/link';
import { useSearchParams } from 'next/navigation';
import { Area, AreaChart, CartesianGrid, ReferenceLine, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { ApiProblem, api } from '@/lib/api';
import { useLoad } from '@/lib/hooks';
import { formatInstant, formatMoney, minorDigits, minorToDecimal } from '@/lib/money';
import { isAtOrBefore, justBefore, parseLocal, toMicros } from '@/lib/instant';
import { fitValueAxis, timeAxis } from '@/lib/chart';
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
  // Each movement's balance after it, in major units (the chart only: amounts shown as text stay exact). The
  // opening (balance 0) is left out: it would pin the axis to 0 and flatten every later change.
  const series = useMemo(() => entries.filter((e) => e.type !== 'AccountCreated' && e.balanceAfter !== undefined).map((e) => ({
    t: Number((toMicros(e.recordedAt) ?? 0n) / 1000n),
    balance: Number(minorToDecimal(e.balanceAfter!, currency)),
    label: formatMoney(e.balanceAfter!, currency),
    recordedAt: e.recordedAt,
  })), [entries, currency]);

  if (id === '') return <Empty>No account given. <Link href="/accounts">Pick one from the list.</Link></Empty>;
  if (now.error instanceof ApiProblem && now.error.status === 404) {
    return (
      <>
        <PageHeader title={id} subtitle="Account" />
        <div className="card" data-testid="account-not-found">
          <Empty>
            <strong>No account “{id}”.</strong><br />
            The ledger has no account with this id: it may be mistyped, or not opened yet.{' '}
            {may('reader') && <Link href={`/accounts?q=${encodeURIComponent(id)}`}>Search the accounts</Link>}
            {may('reader') && may('writer') && ' or '}
            {may('writer') && <Link href="/commands">open it on the Commands page</Link>}.
          </Empty>
        </div>
      </>
    );
  }
  const failed = now.error !== null && now.error !== undefined;
  return (
    <>
      <PageHeader title={id} times
        subtitle={now.data ? `${now.data.owner} · ${now.data.currency} · opened ${formatInstant(now.data.openedAt)}` : 'Account'}>
        <div className="row">
          {now.data?.freshness && <FreshnessBadge freshness={now.data.freshness} />}
          <button className="secondary" onClick={() => { now.reload(); history.reload(); }}>Refresh</button>
          {may('writer') && <Link className="button" href={`/commands?account=${encodeURIComponent(id)}`}>Move money</Link>}
        </div>
      </PageHeader>
      <ErrorNote error={now.error} />
      <div className="grid cols-3" style={{ marginBottom: 16 }}>
        <Stat label="Balance now" value={now.data ? formatMoney(now.data.balance, now.data.currency) : failed ? '—' : <Loading lines={1} />} note={now.data ? `version ${now.data.version}, position ${now.data.globalPosition}` : undefined} testId="balance-now" />
        <Stat label={at === null ? 'Time travel' : 'Balance then'}
          value={at === null ? <span className="muted" style={{ fontSize: '1rem' }}>pick an instant below</span> : past.loading ? <Loading lines={1} /> : past.data ? formatMoney(past.data.balance, past.data.currency) : '—'}
          note={at === null ? 'read from the event store' : <>at <span className="mono">{formatInstant(at, 6)}</span>{past.data ? ` · version ${past.data.version}` : ''}</>}
          testId="balance-then" />
        <Stat label="Events" value={history.data ? history.data.version : now.data?.version ?? (failed ? '—' : <Loading lines={1} />)} note={at === null ? 'in the account stream' : `${shown.length} up to the instant`} />
      </div>
      {at !== null && <ErrorNote error={past.error} testId="time-travel-error" />}
      {may('auditor') ? (
        <>
          <Card title="Time travel" testId="time-travel">
            <div className="row end">
              <InstantInput at={at} onChange={setAt} />
              {entries.length > 1 && (
                <label className="field" style={{ flex: 1, minWidth: 200 }}>or slide through the account&apos;s events
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
          <Card title={`Balance over time, in ${currency}`}>
            {history.loading && !history.data ? <Loading />
              : series.length === 0 ? <Empty>No money has moved yet: the chart starts with the first deposit.</Empty>
              : <BalanceChart series={series} currency={currency} at={at} />}
          </Card>
          <div style={{ height: 16 }} />
          <Card flush title={at === null ? 'History' : <>History as it was at <span className="mono small">{formatInstant(at, 6)}</span></>}>
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

/**
 * The instant to travel to, typed in the page's own time format (local time, to the microsecond if wanted):
 * a browser's date picker would show a second format, and stops at seconds.
 */
function InstantInput({ at, onChange }: { at: string | null; onChange: (at: string | null) => void }) {
  const [text, setText] = useState(at === null ? '' : formatInstant(at, 6));
  const [invalid, setInvalid] = useState(false);
  useEffect(() => {
    // A "before" button or the slider moved the instant: show it, unless it is what the person typed.
    setText((typed) => (at === null ? '' : parseLocal(typed) === at ? typed : formatInstant(at, 6)));
    setInvalid(false);
  }, [at]);
  const typed = (value: string) => {
    setText(value);
    if (value.trim() === '') { setInvalid(false); onChange(null); return; }
    const parsed = parseLocal(value);
    setInvalid(parsed === null);
    if (parsed !== null) onChange(parsed);
  };
  return (
    <label className="field">Instant
      <input type="text" spellCheck={false} placeholder="YYYY-MM-DD HH:MM:SS.ffffff" data-testid="time-travel-input"
        className="mono" style={{ width: 250 }} value={text} onChange={(e) => typed(e.target.value)} aria-invalid={invalid} />
      {invalid && <span className="small" style={{ color: 'var(--warn)' }}>not a time yet: like 2026-01-31 14:00:00</span>}
    </label>
  );
}

interface Point { t: number; balance: number; label: string; recordedAt: string }

function BalanceChart({ series, currency, at }: { series: Point[]; currency: string; at: string | null }) {
  const digits = minorDigits(currency);
  const values = fitValueAxis(series.map((p) => p.balance), 5, 10 ** -digits);
  const last = series.at(-1)!;
  // The last balance holds after its event: drawn on for a tenth of the span (at least 100 ms), so the last
  // change is a visible step, not a line at the chart's right edge.
  const end = last.t + Math.max(100, (last.t - series[0]!.t) / 10);
  const data = [...series, { ...last, t: end }];
  const times = timeAxis(series[0]!.t, end, 6);
  // Major units on the axis (its label names the currency), with the minor digits only when the ticks need
  // them, and then all of them: 1,002.50, not 1,002.5.
  const tickNumber = new Intl.NumberFormat(undefined, { minimumFractionDigits: values.decimals > 0 ? digits : 0, maximumFractionDigits: Math.max(values.decimals, digits) });
  const then = at === null ? null : Number((toMicros(at) ?? 0n) / 1000n);
  return (
    <div className="chart" data-testid="balance-chart" data-currency={currency}>
      <ResponsiveContainer width="100%" height="100%">
        <AreaChart data={data} margin={{ top: 8, right: 36, bottom: 0, left: 12 }}>
          <CartesianGrid strokeDasharray="3 3" stroke="#e3e6eb" />
          <XAxis dataKey="t" type="number" scale="time" domain={times.domain} ticks={times.ticks} tickFormatter={times.label} interval={0} fontSize={11} allowDataOverflow />
          <YAxis type="number" domain={values.domain} ticks={values.ticks} tickFormatter={(v: number) => tickNumber.format(v)} interval={0} fontSize={11} width={76} allowDataOverflow
            label={{ value: currency, angle: -90, position: 'insideLeft', offset: 0, fontSize: 11, fill: '#5b6678' }} />
          <Tooltip labelFormatter={(_t, payload) => formatInstant((payload?.[0]?.payload as Point | undefined)?.recordedAt, 6)}
            formatter={(_v, _n, item) => [(item.payload as Point).label, 'balance after']} />
          <Area type="stepAfter" dataKey="balance" baseValue={values.domain[0]} stroke="#2952cc" fill="#e8eefc" isAnimationActive={false} />
          {then !== null && then >= times.domain[0] && then <= times.domain[1] && <ReferenceLine x={then} stroke="#a15c00" strokeDasharray="4 3" label={{ value: 'then', fontSize: 11, fill: '#a15c00' }} />}
        </AreaChart>
      </ResponsiveContainer>
    </div>
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
                <td className="hide-narrow small mono">{formatInstant(e.recordedAt, 6)}</td>
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
