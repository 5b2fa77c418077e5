'use client';
// The frame of every page: navigation, who is signed in, the components' health; the sign-in form instead
// of the page when there is no working key.
import Link from 'next/link';
import { usePathname } from 'next/navigation';
import { useState, type FormEvent, type ReactNode } from 'react';
import { looksLikeKey, saveKey } from '@/lib/auth';
import { usePolling } from '@/lib/hooks';
import { health } from '@/lib/api';
import { SessionProvider, useSession, type Role } from './session';
import { ErrorNote, Loading } from './ui';

const NAV: { href: string; label: string; role?: Role }[] = [
  { href: '/', label: 'Live timeline', role: 'auditor' },
  { href: '/accounts', label: 'Accounts', role: 'reader' },
  { href: '/commands', label: 'Commands', role: 'writer' },
  { href: '/demo', label: 'Concurrency demo', role: 'writer' },
  { href: '/metrics', label: 'Metrics & health' },
  { href: '/audit', label: 'Audit', role: 'auditor' },
  { href: '/cluster', label: 'Cluster', role: 'admin' },
];

export function Shell({ children }: { children: ReactNode }) {
  return (
    <SessionProvider>
      <Frame>{children}</Frame>
    </SessionProvider>
  );
}

function Frame({ children }: { children: ReactNode }) {
  const { session, may, signOut } = useSession();
  const pathname = usePathname();
  if (session.state === 'loading') return <div className="signin card"><Loading /></div>;
  if (session.state === 'signed-out') return <SignIn problem={session.problem} />;
  const { whoami } = session;
  const active = (href: string) => (href === '/' ? pathname === '/' : pathname === href || pathname.startsWith(`${href}/`) || (href === '/accounts' && pathname.startsWith('/account')));
  return (
    <div className="shell">
      <aside className="side">
        <div className="brand">ChronicleLedger<small>immutable audit ledger</small></div>
        <nav className="nav" aria-label="main">
          {NAV.filter((item) => item.role === undefined || may(item.role)).map((item) => (
            <Link key={item.href} href={item.href} className={active(item.href) ? 'active' : undefined}>{item.label}</Link>
          ))}
        </nav>
        <div className="side-foot">
          <HealthLine />
          <span data-testid="whoami">
            {whoami.authentication === 'off' ? 'authentication off' : <>{whoami.name ?? whoami.principal} · <strong>{whoami.role}</strong></>}
          </span>
          {whoami.authentication === 'on' && <button className="secondary small" onClick={signOut}>Sign out</button>}
        </div>
      </aside>
      <main className="main">{children}</main>
    </div>
  );
}

function HealthLine() {
  const { data, error } = usePolling((signal) => health(signal), 5_000);
  if (error) return <span><span className="dot bad" />API unreachable</span>;
  if (!data) return <span><span className="dot" />checking…</span>;
  const down = Object.entries(data.components).filter(([, c]) => c.status === 'down').map(([name]) => name);
  return down.length === 0
    ? <span data-testid="health-line"><span className="dot good" />all components up</span>
    : <span data-testid="health-line"><span className="dot bad" />down: {down.join(', ')}</span>;
}

function SignIn({ problem }: { problem?: unknown }) {
  const [key, setKey] = useState('');
  const [remember, setRemember] = useState(false);
  const [invalid, setInvalid] = useState<string | null>(null);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!looksLikeKey(key)) {
      setInvalid('An API key looks like chr_<16 hex digits>_<secret>.');
      return;
    }
    setInvalid(null);
    saveKey(key, remember);
  };
  return (
    <div className="signin card">
      <h1>ChronicleLedger</h1>
      <p className="subtitle">Sign in with an API key. The first <code>npm start</code> printed an admin key (and a link that signs in with it);
        an admin makes keys for each role with <code>POST /keys</code> or <code>chronicle keys create --role reader</code>.</p>
      <form className="form" onSubmit={submit} style={{ marginTop: 16 }}>
        <label className="field">API key
          <input name="apiKey" type="password" autoComplete="off" spellCheck={false} value={key} onChange={(e) => setKey(e.target.value)} placeholder="chr_…" />
        </label>
        <label className="row small"><input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} /> remember on this device (otherwise only for this tab)</label>
        {invalid && <div className="note warn">{invalid}</div>}
        {problem !== undefined && <ErrorNote error={problem} />}
        <button type="submit">Sign in</button>
      </form>
    </div>
  );
}
