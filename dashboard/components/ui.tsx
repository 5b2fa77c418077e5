'use client';
// Small building blocks shared by every page: cards, figures, badges, the error note (the API's own words,
// in plain language where we know the code), loading and empty states.
import { useEffect, type ReactNode } from 'react';
import { ApiProblem } from '@/lib/api';
import { zoneLabel } from '@/lib/instant';

export function Card({ title, children, actions, flush, testId }: { title?: ReactNode; children: ReactNode; actions?: ReactNode; flush?: boolean; testId?: string }) {
  return (
    <section className={`card${flush ? ' flush' : ''}`} data-testid={testId}>
      {(title || actions) && (
        <div className="row" style={flush ? { padding: '16px 18px 0' } : { marginBottom: 12 }}>
          {title && <h2 style={{ margin: 0 }}>{title}</h2>}
          <span className="spacer" />
          {actions}
        </div>
      )}
      {flush && (title || actions) ? <div style={{ height: 12 }} /> : null}
      {children}
    </section>
  );
}

export function Stat({ label, value, note, testId }: { label: string; value: ReactNode; note?: ReactNode; testId?: string }) {
  return (
    <div className="card">
      <div className="stat-label">{label}</div>
      <div className="stat-value" data-testid={testId}>{value}</div>
      {note !== undefined && <div className="stat-note">{note}</div>}
    </div>
  );
}

export type Tone = 'good' | 'bad' | 'warn' | 'info' | undefined;

export function Badge({ tone, children, title }: { tone?: Tone; children: ReactNode; title?: string }) {
  return <span className={`badge${tone ? ` ${tone}` : ''}`} title={title}>{children}</span>;
}

export function Loading({ lines = 3 }: { lines?: number }) {
  return <div aria-busy="true" aria-label="loading">{Array.from({ length: lines }, (_, i) => <div key={i} className="skeleton" style={{ width: `${90 - i * 15}%` }} />)}</div>;
}

export function Empty({ children }: { children: ReactNode }) {
  return <div className="empty">{children}</div>;
}

/** What an API error code means to a person. The API's own message follows it. */
const PLAIN: Record<string, string> = {
  insufficient_funds: 'Not enough money in the account.',
  currency_mismatch: 'The two accounts hold different currencies.',
  accounts_must_be_different: 'An account cannot send money to itself.',
  account_not_found: 'No such account.',
  account_already_exists: 'An account with this id already exists.',
  balance_overflow: 'The balance would exceed the largest amount the ledger holds.',
  concurrency_conflict: 'The account kept changing under this command; try again.',
  idempotency_key_reused: 'This idempotency key was already used for a different command.',
  validation_failed: 'Some of the input is not valid.',
  amount_zero: 'The amount must be more than zero.',
  amount_negative: 'The amount cannot be negative.',
  amount_fractional: 'Amounts are whole minor units.',
  amount_too_large: 'The amount is too large.',
  currency_invalid: 'That is not an ISO 4217 currency code.',
  unauthorized: 'The API key is missing, unknown or revoked.',
  forbidden: "This API key's role may not do that.",
  rate_limited: 'Too many requests with this key; wait a moment.',
  unreachable: 'The ledger API does not answer.',
  event_not_sealed: 'The event is not sealed into the audit log yet (it takes about a second).',
  checkpoint_not_found: 'No signed checkpoint exists yet.',
  overloaded: 'The ledger is overloaded; try again.',
};

export function plainError(error: unknown): { headline: string; detail: string; code: string | null } {
  if (error instanceof ApiProblem) {
    return { headline: PLAIN[error.code] ?? `The API refused: ${error.code.replace(/_/g, ' ')}.`, detail: error.message, code: error.code };
  }
  return { headline: 'Something went wrong.', detail: (error as Error)?.message ?? String(error), code: null };
}

export function ErrorNote({ error, testId }: { error: unknown; testId?: string }) {
  if (error === null || error === undefined) return null;
  const { headline, detail, code } = plainError(error);
  return (
    <div className="note bad" role="alert" data-testid={testId ?? 'error'} data-code={code ?? undefined}>
      <strong>{headline}</strong> <span className="small">{detail}{code ? <> (<code>{code}</code>)</> : null}</span>
    </div>
  );
}

/**
 * The page's title. `times`: the page shows instants, and this is where it says, once, that they are the
 * browser's local time (every time on a page is in the one format of lib/instant.ts).
 */
export function PageHeader({ title, subtitle, times, children }: { title: string; subtitle?: ReactNode; times?: boolean; children?: ReactNode }) {
  // Static pages share one <title>; each tab names its page once it renders.
  useEffect(() => { document.title = `${title} · ChronicleLedger`; }, [title]);
  return (
    <div className="topbar">
      <div>
        <h1>{title}</h1>
        {subtitle && <p className="subtitle">{subtitle}</p>}
        {times && <p className="subtitle small" data-testid="time-zone">Times are in local time ({zoneLabel()}).</p>}
      </div>
      {children}
    </div>
  );
}

export function FreshnessBadge({ freshness }: { freshness: { status: string; position: number; lag?: { events: number; ms: number; capped?: boolean } | null } | undefined }) {
  if (!freshness) return null;
  const lag = freshness.lag;
  const behind = lag ? lag.events : 0;
  const tone: Tone = freshness.status === 'stale' ? 'warn' : behind === 0 ? 'good' : behind > 100 ? 'warn' : 'info';
  const text = freshness.status === 'stale'
    ? 'stale'
    : lag ? (behind === 0 ? 'up to date' : `${behind}${lag.capped ? '+' : ''} events behind (${lag.ms} ms)`) : 'lag unknown';
  return <Badge tone={tone} title={`read model at position ${freshness.position}`}>{text}</Badge>;
}
