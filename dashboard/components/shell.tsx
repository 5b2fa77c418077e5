'use client';
// The frame of every page: navigation, who is signed in, the components' health; the sign-in form instead
// of the page when there is no working key. A key only ever sees pages its role may use: the start page
// (`/`, the Live timeline, which needs an auditor key) sends any other role on to the first page of its menu
// (a reader to Accounts, a writer to Commands), and a page opened by its address that the role may not use
// says so and links there, instead of running into 403s. The roles are the API's own (src/http: a balance
// or the account list is reader, commands writer, history, $all and audit auditor, cluster admin; metrics
// and health are public).
import Link from 'next/link';
import { usePathname, useRouter } from 'next/navigation';
import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
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

/** The menu entry a path belongs to (/account?id= is under Accounts); undefined for a page outside it. */
function navItemOf(pathname: string) {
  const path = pathname.replace(/\/+$/, '') || '/';
  if (path === '/') return NAV[0];
  if (path === '/account') return NAV.find((item) => item.href === '/accounts');
  return NAV.find((item) => item.href !== '/' && (path === item.href || path.startsWith(`${item.href}/`)));
}

const ROLE_WORDS: Record<Role, string> = { reader: 'a reader', writer: 'a writer', auditor: 'an auditor', admin: 'an admin' };

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
  const router = useRouter();
  const menu = NAV.filter((item) => item.role === undefined || may(item.role));
  const item = navItemOf(pathname);
  const allowed = item === undefined || item.role === undefined || may(item.role);
  const home = menu[0];
  // The start page is the Live timeline; a role that may not read it starts on the first page of its menu.
  const redirect = session.state === 'signed-in' && !allowed && item === NAV[0] && home !== undefined;
  useEffect(() => { if (redirect) router.replace(home!.href); }, [redirect, home, router]);
  if (session.state === 'loading') return <div className="signin card"><Loading /></div>;
  if (session.state === 'signed-out') return <SignIn problem={session.problem} />;
  const { whoami } = session;
  const active = (href: string) => (href === '/' ? pathname === '/' : pathname === href || pathname.startsWith(`${href}/`) || (href === '/accounts' && pathname.startsWith('/account')));
  return (
    <div className="shell">
      <aside className="side">
        <div className="brand">ChronicleLedger<small>immutable audit ledger</small></div>
        <nav className="nav" aria-label="main">
          {menu.map((entry) => (
            <Link key={entry.href} href={entry.href} className={active(entry.href) ? 'active' : undefined}>{entry.label}</Link>
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
      <main className="main">
        {allowed ? children : redirect ? <Loading /> : (
          <div className="note info" data-testid="page-not-for-role">
            <strong>{item!.label}</strong> needs {ROLE_WORDS[item!.role!]} key (or admin); this key&apos;s role is {whoami.role}.
            {home && <> Its pages start at <Link href={home.href}>{home.label}</Link>.</>}
          </div>
        )}
      </main>
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
