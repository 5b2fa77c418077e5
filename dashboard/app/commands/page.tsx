'use client';
import { Suspense, useCallback } from 'react';
import { useSearchParams } from 'next/navigation';
import { api } from '@/lib/api';
import { useLoad } from '@/lib/hooks';
import type { AccountsPage } from '@/lib/types';
import { CreateAccountForm, MoneyForm, TransferForm, type AccountChoice } from '@/components/command-forms';
import { Loading, PageHeader } from '@/components/ui';
import { useSession } from '@/components/session';

export default function CommandsPage() {
  return <Suspense fallback={<Loading />}><Commands /></Suspense>;
}

function Commands() {
  const initial = useSearchParams().get('account') ?? undefined;
  const { may } = useSession();
  const known = useLoad((signal) => (may('reader') ? api<AccountsPage>('/accounts?limit=1000', { signal }) : Promise.resolve(null)), []);
  const accounts: AccountChoice[] = known.data?.accounts ?? [];
  const refresh = useCallback(() => known.reload(), [known]);
  if (!may('writer')) return <div className="note info">Commands need a writer key (or admin); this key&apos;s role may not move money.</div>;
  return (
    <>
      <PageHeader title="Commands" subtitle="Each command is validated against the account's current state, appended as events with an expected version, and refused rather than ever overdrawing." />
      <div className="grid cols-2">
        <CreateAccountForm onDone={refresh} />
        <TransferForm accounts={accounts} {...(initial ? { initialAccount: initial } : {})} onDone={refresh} />
        <MoneyForm kind="deposit" accounts={accounts} {...(initial ? { initialAccount: initial } : {})} onDone={refresh} />
        <MoneyForm kind="withdraw" accounts={accounts} {...(initial ? { initialAccount: initial } : {})} onDone={refresh} />
      </div>
    </>
  );
}
