'use client';
// The four commands as forms. Each shows the Idempotency-Key it will send (a retry with the same key cannot
// move money twice), the API's refusal in plain words, and after success waits for the read model to include
// the command's events (read-your-writes: ?minPosition=<globalPosition>) before showing the new balance.
import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import Link from 'next/link';
import { api, apiFetch } from '@/lib/api';
import { formatMoney, parseMajorAmount } from '@/lib/money';
import type { BalanceAnswer, CommandReceipt } from '@/lib/types';
import { Badge, Card, ErrorNote } from './ui';
import { useSession } from './session';

export const newIdempotencyKey = (): string => crypto.randomUUID();

export interface AccountChoice {
  accountId: string;
  currency: string;
  owner: string;
}

/** The currency of an account, looked up when its id is typed (a reader key is needed; else unknown). */
function useCurrencyOf(accountId: string, known: AccountChoice[]): string | null {
  const [currency, setCurrency] = useState<string | null>(null);
  const { may } = useSession();
  useEffect(() => {
    const hit = known.find((a) => a.accountId === accountId);
    if (hit) { setCurrency(hit.currency); return; }
    setCurrency(null);
    if (accountId.trim() === '' || !may('reader')) return;
    const controller = new AbortController();
    const timer = setTimeout(() => {
      api<BalanceAnswer>(`/accounts/${encodeURIComponent(accountId.trim())}/balance`, { signal: controller.signal })
        .then((b) => setCurrency(b.currency), () => setCurrency(null));
    }, 250);
    return () => { clearTimeout(timer); controller.abort(); };
  }, [accountId, known, may]);
  return currency;
}

interface Outcome {
  receipt: CommandReceipt;
  replayed: boolean;
  /** Balances once the read model included the command (read-your-writes). */
  caughtUp: { accountId: string; balance: string; currency: string; status: string; waitedMs?: number }[] | null;
}

async function readYourWrites(receipt: CommandReceipt, accountIds: string[], canRead: boolean): Promise<Outcome['caughtUp']> {
  if (!canRead) return null;
  return Promise.all(accountIds.map(async (accountId) => {
    const b = await api<BalanceAnswer>(`/accounts/${encodeURIComponent(accountId)}/balance?minPosition=${receipt.globalPosition}&maxWaitMs=5000`);
    return { accountId, balance: b.balance, currency: b.currency, status: b.freshness?.status ?? 'eventual', ...(b.freshness?.waitedMs === undefined ? {} : { waitedMs: b.freshness.waitedMs }) };
  }));
}

function useCommand(path: string, onDone?: () => void) {
  const { may } = useSession();
  const [idempotencyKey, setIdempotencyKey] = useState(newIdempotencyKey);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [outcome, setOutcome] = useState<Outcome | null>(null);
  const send = async (body: Record<string, unknown>, accounts: string[]) => {
    setBusy(true);
    setError(null);
    setOutcome(null);
    try {
      const answer = await apiFetch<CommandReceipt>(path, { method: 'POST', body, headers: { 'idempotency-key': idempotencyKey } });
      const replayed = answer.headers.get('idempotent-replayed') === 'true';
      setOutcome({ receipt: answer.body, replayed, caughtUp: null });
      const caughtUp = await readYourWrites(answer.body, accounts, may('reader'));
      setOutcome({ receipt: answer.body, replayed, caughtUp });
      // The next command is a new one: a new key. (A retry of this one would reuse it: "Send again".)
      setIdempotencyKey(newIdempotencyKey());
      onDone?.();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return { idempotencyKey, setIdempotencyKey, busy, error, outcome, send };
}

function KeyField({ value, onChange }: { value: string; onChange: (key: string) => void }) {
  return (
    <label className="field">Idempotency-Key
      <div className="row">
        <input className="mono" value={value} onChange={(e) => onChange(e.target.value)} style={{ flex: 1, fontSize: '0.8rem' }} data-testid="idempotency-key" maxLength={200} />
        <button type="button" className="secondary small" onClick={() => onChange(newIdempotencyKey())}>New</button>
      </div>
    </label>
  );
}

function Result({ outcome, error, testId }: { outcome: Outcome | null; error: unknown; testId: string }) {
  if (error) return <ErrorNote error={error} testId={`${testId}-error`} />;
  if (!outcome) return null;
  return (
    <div className="note good" data-testid={`${testId}-result`}>
      <strong>{outcome.replayed ? 'Already done' : 'Done'}</strong>{outcome.replayed ? ' (same Idempotency-Key: the earlier result, nothing moved twice)' : ''}: global position <span className="mono">{outcome.receipt.globalPosition}</span>.
      {outcome.caughtUp === null
        ? <span className="small"> Waiting for the read model…</span>
        : outcome.caughtUp.map((b) => (
          <div key={b.accountId} className="small">
            <Link href={`/account?id=${encodeURIComponent(b.accountId)}`}>{b.accountId}</Link>: <strong data-testid="ryw-balance">{formatMoney(b.balance, b.currency)}</strong>{' '}
            <Badge tone={b.status === 'reached' ? 'good' : 'warn'}>{b.status === 'reached' ? `read model caught up${b.waitedMs !== undefined ? ` in ${b.waitedMs} ms` : ''}` : b.status}</Badge>
          </div>
        ))}
    </div>
  );
}

function AmountField({ value, onChange, currency }: { value: string; onChange: (v: string) => void; currency: string | null }) {
  return (
    <label className="field">Amount {currency ? `(${currency})` : '(minor units: the account’s currency is unknown)'}
      <input inputMode="decimal" value={value} onChange={(e) => onChange(e.target.value)} placeholder={currency ? '12.50' : '1250'} data-testid="amount" />
    </label>
  );
}

/** Major units with the currency's exponent when the currency is known; plain minor units otherwise. */
function amountToMinor(text: string, currency: string | null): { ok: true; minor: string } | { ok: false; message: string } {
  if (currency) return parseMajorAmount(text, currency);
  return /^[1-9]\d*$/.test(text.trim()) ? { ok: true, minor: text.trim() } : { ok: false, message: 'minor units: a whole number above zero' };
}

function AccountField({ label, value, onChange, accounts, testId }: { label: string; value: string; onChange: (v: string) => void; accounts: AccountChoice[]; testId: string }) {
  return (
    <label className="field">{label}
      <input list="known-accounts" value={value} onChange={(e) => onChange(e.target.value)} placeholder="account id" data-testid={testId} autoComplete="off" />
      <datalist id="known-accounts">{accounts.map((a) => <option key={a.accountId} value={a.accountId}>{a.owner} · {a.currency}</option>)}</datalist>
    </label>
  );
}

function FormCard({ title, testId, children, onSubmit, busy, label }: { title: string; testId: string; children: ReactNode; onSubmit: () => void; busy: boolean; label: string }) {
  const submit = (e: FormEvent) => { e.preventDefault(); onSubmit(); };
  return (
    <Card title={title} testId={testId}>
      <form className="form" onSubmit={submit}>
        {children}
        <div className="row"><button type="submit" disabled={busy} data-testid={`${testId}-submit`}>{busy ? 'Sending…' : label}</button></div>
      </form>
    </Card>
  );
}

export function CreateAccountForm({ onDone }: { onDone?: () => void }) {
  const [accountId, setAccountId] = useState('');
  const [owner, setOwner] = useState('');
  const [currency, setCurrency] = useState('EUR');
  const command = useCommand('/commands/create-account', onDone);
  return (
    <FormCard title="Open an account" testId="create" busy={command.busy} label="Open account"
      onSubmit={() => void command.send({ accountId: accountId.trim(), owner: owner.trim(), currency: currency.trim().toUpperCase() }, [accountId.trim()])}>
      <div className="grid cols-2">
        <label className="field">Account id<input value={accountId} onChange={(e) => setAccountId(e.target.value)} placeholder="ACC-1001" data-testid="create-id" /></label>
        <label className="field">Currency<input value={currency} onChange={(e) => setCurrency(e.target.value)} maxLength={3} data-testid="create-currency" /></label>
      </div>
      <label className="field">Owner<input value={owner} onChange={(e) => setOwner(e.target.value)} placeholder="Ada Lovelace" data-testid="create-owner" /></label>
      <KeyField value={command.idempotencyKey} onChange={command.setIdempotencyKey} />
      <Result outcome={command.outcome} error={command.error} testId="create" />
    </FormCard>
  );
}

export function MoneyForm({ kind, accounts, initialAccount, onDone }: { kind: 'deposit' | 'withdraw'; accounts: AccountChoice[]; initialAccount?: string; onDone?: () => void }) {
  const [accountId, setAccountId] = useState(initialAccount ?? '');
  const [amount, setAmount] = useState('');
  const [invalid, setInvalid] = useState<string | null>(null);
  const currency = useCurrencyOf(accountId.trim(), accounts);
  const command = useCommand(`/commands/${kind}`, onDone);
  const submit = () => {
    const parsed = amountToMinor(amount, currency);
    if (!parsed.ok) { setInvalid(parsed.message); return; }
    setInvalid(null);
    void command.send({ accountId: accountId.trim(), amount: parsed.minor }, [accountId.trim()]);
  };
  return (
    <FormCard title={kind === 'deposit' ? 'Deposit' : 'Withdraw'} testId={kind} busy={command.busy} label={kind === 'deposit' ? 'Deposit' : 'Withdraw'} onSubmit={submit}>
      <div className="grid cols-2">
        <AccountField label="Account" value={accountId} onChange={setAccountId} accounts={accounts} testId={`${kind}-account`} />
        <AmountField value={amount} onChange={setAmount} currency={currency} />
      </div>
      <KeyField value={command.idempotencyKey} onChange={command.setIdempotencyKey} />
      {invalid && <div className="note warn">{invalid}</div>}
      <Result outcome={command.outcome} error={command.error} testId={kind} />
    </FormCard>
  );
}

export function TransferForm({ accounts, initialAccount, onDone }: { accounts: AccountChoice[]; initialAccount?: string; onDone?: () => void }) {
  const [from, setFrom] = useState(initialAccount ?? '');
  const [to, setTo] = useState('');
  const [amount, setAmount] = useState('');
  const [invalid, setInvalid] = useState<string | null>(null);
  const currency = useCurrencyOf(from.trim(), accounts);
  const command = useCommand('/commands/transfer', onDone);
  const submit = () => {
    const parsed = amountToMinor(amount, currency);
    if (!parsed.ok) { setInvalid(parsed.message); return; }
    setInvalid(null);
    void command.send({ fromAccountId: from.trim(), toAccountId: to.trim(), amount: parsed.minor }, [from.trim(), to.trim()]);
  };
  return (
    <FormCard title="Transfer" testId="transfer" busy={command.busy} label="Transfer" onSubmit={submit}>
      <div className="grid cols-2">
        <AccountField label="From" value={from} onChange={setFrom} accounts={accounts} testId="transfer-from" />
        <AccountField label="To" value={to} onChange={setTo} accounts={accounts} testId="transfer-to" />
      </div>
      <AmountField value={amount} onChange={setAmount} currency={currency} />
      <KeyField value={command.idempotencyKey} onChange={command.setIdempotencyKey} />
      {invalid && <div className="note warn">{invalid}</div>}
      <Result outcome={command.outcome} error={command.error} testId="transfer" />
    </FormCard>
  );
}
