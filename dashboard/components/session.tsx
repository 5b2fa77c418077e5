'use client';
// Who is signed in: the API key (this browser's storage) and what /whoami says it may do. Pages ask
// `may('writer')` to show or hide what the key's role cannot use, so a reader never meets a 403 by surprise.
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from 'react';
import { ApiProblem, api } from '@/lib/api';
import { forgetKey, onKeyChange, storedKey, takeKeyFromFragment } from '@/lib/auth';

export type Role = 'reader' | 'writer' | 'auditor' | 'admin';

export interface Whoami {
  authentication: 'on' | 'off';
  principal: string;
  name: string | null;
  role: Role;
  may: Role[];
}

type SessionState =
  | { state: 'loading' }
  | { state: 'signed-out'; problem?: unknown }
  | { state: 'signed-in'; whoami: Whoami };

interface Session {
  session: SessionState;
  may: (role: Role) => boolean;
  refresh: () => void;
  signOut: () => void;
}

const SessionContext = createContext<Session | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [session, setSession] = useState<SessionState>({ state: 'loading' });
  const [generation, setGeneration] = useState(0);
  const refresh = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => {
    takeKeyFromFragment();
    // A #key= link opened on a page already showing (the same document): take it too.
    window.addEventListener('hashchange', takeKeyFromFragment);
    const off = onKeyChange(() => setGeneration((g) => g + 1));
    return () => { window.removeEventListener('hashchange', takeKeyFromFragment); off(); };
  }, []);

  useEffect(() => {
    let cancelled = false;
    (async () => {
      try {
        const whoami = await api<Whoami>('/whoami');
        if (!cancelled) setSession({ state: 'signed-in', whoami });
      } catch (problem) {
        if (cancelled) return;
        // Without a key (or with a refused one) the answer is 401: the sign-in form. Anything else is shown.
        if (problem instanceof ApiProblem && problem.status === 401) {
          setSession({ state: 'signed-out', ...(storedKey() === null ? {} : { problem }) });
        } else {
          setSession({ state: 'signed-out', problem });
        }
      }
    })();
    return () => { cancelled = true; };
  }, [generation]);

  const may = useCallback((role: Role) => session.state === 'signed-in' && session.whoami.may.includes(role), [session]);
  const signOut = useCallback(() => { forgetKey(); }, []);
  return <SessionContext.Provider value={{ session, may, refresh, signOut }}>{children}</SessionContext.Provider>;
}

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside SessionProvider');
  return session;
}
