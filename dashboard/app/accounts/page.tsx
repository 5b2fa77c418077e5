'use client';
// Accounts from the read model: searchable (id or owner), paginated by id, with each balance in its currency
// and how fresh the read model is.
import { useEffect, useState } from 'react';
import Link from 'next/link';
import { useRouter } from 'next/navigation';
import { api } from '@/lib/api';
import { useLoad } from '@/lib/hooks';
import { formatInstant, formatMoney } from '@/lib/money';
import type { AccountsPage } from '@/lib/types';
import { Card, Empty, ErrorNote, FreshnessBadge, Loading, PageHeader } from '@/components/ui';
import { useSession } from '@/components/session';

const PAGE = 25;

export default function AccountsPageView() {
  const router = useRouter();
  const { may } = useSession();
  const [typed, setTyped] = useState('');
  const [search, setSearch] = useState('');
  // The `after` cursor of each page seen so far, to go back.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const after = cursors.at(-1) ?? null;

  // A new search starts from the first page; the same search (or none, on the first render) keeps the page.
  useEffect(() => {
    const next = typed.trim();
    if (next === search) return;
    const timer = setTimeout(() => { setSearch(next); setCursors([null]); }, 250);
    return () => clearTimeout(timer);
  }, [typed, search]);

  const { data, error, loading, reload } = useLoad((signal) => {
    const query = new URLSearchParams({ limit: String(PAGE) });
    if (after !== null) query.set('after', after);
    if (search !== '') query.set('q', search);
    return api<AccountsPage>(`/accounts?${query}`, { signal });
  }, [after, search]);

  return (
    <>
      <PageHeader title="Accounts" times subtitle="Balances from the read model, which follows the event store within milliseconds.">
        <div className="row">
          {data && <FreshnessBadge freshness={data.freshness} />}
          <button className="secondary" onClick={reload}>Refresh</button>
          {may('writer') && <Link className="button" href="/commands">New account</Link>}
        </div>
      </PageHeader>
      <Card flush actions={
        <input aria-label="search accounts" placeholder="Search by id or owner…" value={typed} onChange={(e) => setTyped(e.target.value)} style={{ width: 260 }} data-testid="account-search" />
      } title="All accounts">
        <ErrorNote error={error} />
        {loading && !data ? <div style={{ padding: 16 }}><Loading lines={5} /></div>
          : data && data.accounts.length === 0 ? <Empty>{search ? `No account matches “${search}”.` : 'No accounts yet.'}</Empty>
          : data && (
            <div className="table-wrap">
              <table data-testid="accounts-table">
                <thead><tr><th>Account</th><th>Owner</th><th className="num">Balance</th><th className="hide-narrow">Currency</th><th className="hide-narrow num">Events</th><th className="hide-narrow">Last activity</th></tr></thead>
                <tbody>
                  {data.accounts.map((a) => (
                    <tr key={a.accountId} className="clickable" onClick={() => router.push(`/account?id=${encodeURIComponent(a.accountId)}`)} data-testid="account-row" data-account={a.accountId}>
                      <td><Link href={`/account?id=${encodeURIComponent(a.accountId)}`}>{a.accountId}</Link></td>
                      <td>{a.owner}</td>
                      <td className="num" data-testid="account-balance">{formatMoney(a.balance, a.currency)}</td>
                      <td className="hide-narrow">{a.currency}</td>
                      <td className="hide-narrow num">{a.version}</td>
                      <td className="hide-narrow small">{formatInstant(a.lastEventAt)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        <div className="row" style={{ padding: '10px 16px', borderTop: '1px solid var(--line)' }}>
          <span className="muted small">Page {cursors.length}{data ? ` · ${data.accounts.length} shown` : ''}</span>
          <span className="spacer" />
          <button className="secondary small" disabled={cursors.length === 1} onClick={() => setCursors((c) => c.slice(0, -1))}>Previous</button>
          <button className="secondary small" disabled={!data?.nextAfter} onClick={() => data?.nextAfter && setCursors((c) => [...c, data.nextAfter])}>Next</button>
        </div>
      </Card>
    </>
  );
}
