'use client';
// The spec's double-spend demo: one account with a little money, 100 withdrawals fired at it at once. The
// ledger serialises them per account and checks every one against the balance it would leave, so exactly as
// many succeed as the money covers, the rest are refused (insufficient_funds), and no event in the account's
// history ever shows a balance below zero.
import { useState } from 'react';
import Link from 'next/link';
import { ApiProblem, api, apiFetch } from '@/lib/api';
import { formatMoney, parseMajorAmount } from '@/lib/money';
import type { BalanceAnswer, CommandReceipt, HistoryPage } from '@/lib/types';
import { Badge, Card, ErrorNote, PageHeader, Stat } from '@/components/ui';
import { useSession } from '@/components/session';

interface DemoResult {
  accountId: string;
  currency: string;
  startMinor: bigint;
  amountMinor: bigint;
  fired: number;
  succeeded: number;
  refused: number;
  other: Record<string, number>;
  ms: number;
  finalBalance: string | null;
  lowestBalance: string | null;
  eventsChecked: number;
}

export default function DemoPage() {
  const { may } = useSession();
  const [start, setStart] = useState('50.00');
  const [each, setEach] = useState('1.00');
  const [count, setCount] = useState(100);
  const [running, setRunning] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [result, setResult] = useState<DemoResult | null>(null);
  const currency = 'EUR';

  const run = async () => {
    setError(null);
    setResult(null);
    const startAmount = parseMajorAmount(start, currency);
    const eachAmount = parseMajorAmount(each, currency);
    if (!startAmount.ok || !eachAmount.ok) {
      setError(new ApiProblem(400, 'validation_failed', !startAmount.ok ? `starting balance: ${startAmount.message}` : !eachAmount.ok ? `withdrawal: ${eachAmount.message}` : ''));
      return;
    }
    const accountId = `demo-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`;
    try {
      setRunning('opening an account');
      await api('/commands/create-account', { method: 'POST', body: { accountId, owner: 'Concurrency demo', currency } });
      await api('/commands/deposit', { method: 'POST', body: { accountId, amount: startAmount.minor } });
      setRunning(`firing ${count} withdrawals at once`);
      const started = performance.now();
      const outcomes = await Promise.allSettled(Array.from({ length: count }, () =>
        apiFetch<CommandReceipt>('/commands/withdraw', { method: 'POST', body: { accountId, amount: eachAmount.minor }, headers: { 'idempotency-key': crypto.randomUUID() } })));
      const ms = Math.round(performance.now() - started);
      let succeeded = 0;
      let refused = 0;
      let lastPosition = 0;
      const other: Record<string, number> = {};
      for (const outcome of outcomes) {
        if (outcome.status === 'fulfilled') {
          succeeded++;
          lastPosition = Math.max(lastPosition, outcome.value.body.globalPosition);
        } else if (outcome.reason instanceof ApiProblem && outcome.reason.code === 'insufficient_funds') refused++;
        else {
          const code = outcome.reason instanceof ApiProblem ? outcome.reason.code : 'network';
          other[code] = (other[code] ?? 0) + 1;
        }
      }
      setRunning('reading the result');
      let finalBalance: string | null = null;
      if (may('reader')) {
        const query = lastPosition > 0 ? `?minPosition=${lastPosition}&maxWaitMs=5000` : '';
        finalBalance = (await api<BalanceAnswer>(`/accounts/${accountId}/balance${query}`)).balance;
      }
      let lowestBalance: string | null = null;
      let eventsChecked = 0;
      if (may('auditor')) {
        const history = await api<HistoryPage>(`/accounts/${accountId}/history?limit=1000`);
        eventsChecked = history.entries.length;
        const balances = history.entries.filter((e) => e.balanceAfter !== undefined).map((e) => BigInt(e.balanceAfter!));
        lowestBalance = balances.reduce((min, b) => (b < min ? b : min), balances[0] ?? 0n).toString();
      }
      setResult({ accountId, currency, startMinor: BigInt(startAmount.minor), amountMinor: BigInt(eachAmount.minor), fired: count, succeeded, refused, other, ms, finalBalance, lowestBalance, eventsChecked });
    } catch (e) {
      setError(e);
    } finally {
      setRunning(null);
    }
  };

  if (!may('writer')) return <div className="note info">The demo sends commands: it needs a writer key (or admin).</div>;
  // As many withdrawals as the starting balance covers, at most as many as were fired.
  const covered = result ? result.startMinor / result.amountMinor : 0n;
  const expectedSucceeded = result ? Number(covered < BigInt(result.fired) ? covered : BigInt(result.fired)) : 0;
  const neverNegative = result?.lowestBalance !== null && result?.lowestBalance !== undefined && BigInt(result.lowestBalance) >= 0n;
  return (
    <>
      <PageHeader title="Concurrency demo" subtitle="Many withdrawals at one account at the same instant: the ledger never lets them overdraw it." />
      <Card title="Set up">
        <div className="row end">
          <label className="field">Starting balance ({currency})<input value={start} onChange={(e) => setStart(e.target.value)} style={{ width: 120 }} data-testid="demo-start" /></label>
          <label className="field">Each withdrawal ({currency})<input value={each} onChange={(e) => setEach(e.target.value)} style={{ width: 120 }} data-testid="demo-each" /></label>
          <label className="field">Withdrawals<input type="number" min={1} max={500} value={count} onChange={(e) => setCount(Math.max(1, Math.min(500, Number(e.target.value) || 1)))} style={{ width: 90 }} /></label>
          <button onClick={() => void run()} disabled={running !== null} data-testid="demo-run">{running ? `${running}…` : `Fire ${count} parallel withdrawals`}</button>
        </div>
        <p className="small muted" style={{ marginBottom: 0 }}>A fresh account is opened for each run. The browser sends the requests all at once (over as many connections as it allows per host); each has its own Idempotency-Key, so every one is a distinct command.</p>
      </Card>
      <div style={{ height: 16 }} />
      <ErrorNote error={error} />
      {result && (
        <div data-testid="demo-result">
          <div className="grid cols-4" style={{ marginBottom: 16 }}>
            <Stat label="Succeeded" value={<span data-testid="demo-succeeded">{result.succeeded}</span>} note={`expected ${expectedSucceeded}: the money covers that many`} />
            <Stat label="Refused" value={<span data-testid="demo-refused">{result.refused}</span>} note="insufficient_funds (422)" />
            <Stat label="Final balance" value={<span data-testid="demo-final">{result.finalBalance === null ? '—' : formatMoney(result.finalBalance, result.currency)}</span>} note={`${formatMoney(result.startMinor, result.currency)} − ${result.succeeded} × ${formatMoney(result.amountMinor, result.currency)}`} />
            <Stat label="Lowest balance ever" value={<span data-testid="demo-lowest">{result.lowestBalance === null ? '—' : formatMoney(result.lowestBalance, result.currency)}</span>} note={`over all ${result.eventsChecked} events of the account`} />
          </div>
          <Card>
            <div className="bar" style={{ marginBottom: 10 }} aria-hidden>
              <span style={{ width: `${(100 * result.succeeded) / result.fired}%`, background: 'var(--good)' }} />
              <span style={{ width: `${(100 * result.refused) / result.fired}%`, background: 'var(--bad)' }} />
            </div>
            <div className="row">
              {neverNegative ? <Badge tone="good">zero overdrafts</Badge> : result.lowestBalance === null ? <Badge>history needs an auditor key</Badge> : <Badge tone="bad">OVERDRAWN</Badge>}
              {result.succeeded === expectedSucceeded ? <Badge tone="good">every covered withdrawal went through</Badge> : <Badge tone="warn">{result.succeeded} of {expectedSucceeded} covered withdrawals went through</Badge>}
              {Object.entries(result.other).map(([code, n]) => <Badge key={code} tone="warn">{n} × {code}</Badge>)}
              <span className="muted small">{result.fired} requests in {result.ms} ms</span>
              <span className="spacer" />
              <Link href={`/account?id=${encodeURIComponent(result.accountId)}`}>Open {result.accountId}</Link>
            </div>
          </Card>
        </div>
      )}
    </>
  );
}
