'use client';
// The live event timeline: the latest events of $all, newest first, then every event as it is committed,
// pushed by the API's subscription (SSE over fetch, resumed with Last-Event-ID): no polling loop.
import { useEffect, useMemo, useRef, useState } from 'react';
import Link from 'next/link';
import { api } from '@/lib/api';
import { subscribe } from '@/lib/sse';
import { ACCOUNT_EVENT_TYPES, accountIdOf, amountOf, describe, isAccountStream, typeTone } from '@/lib/events';
import { formatInstant } from '@/lib/money';
import type { RecordedEvent } from '@/lib/types';
import { Badge, Card, Empty, ErrorNote, Loading, PageHeader } from '@/components/ui';
import { EventDetail } from '@/components/event-detail';
import { useSession } from '@/components/session';

const KEEP_MAX = 1_000;
const INITIAL = 100;

export default function TimelinePage() {
  const { may } = useSession();
  const [events, setEvents] = useState<RecordedEvent[]>([]);
  const [loaded, setLoaded] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [state, setState] = useState<{ state: string; detail?: string }>({ state: 'connecting' });
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState<RecordedEvent[]>([]);
  const [account, setAccount] = useState('');
  const [type, setType] = useState('');
  const [selected, setSelected] = useState<RecordedEvent | null>(null);
  const pausedRef = useRef(paused);
  pausedRef.current = paused;

  useEffect(() => {
    const controller = new AbortController();
    (async () => {
      try {
        const latest = await api<{ events: RecordedEvent[]; lastPosition: number }>(`/streams/$all?direction=backward&count=${INITIAL}`, { signal: controller.signal });
        setEvents(latest.events);
        setLoaded(true);
        const seen = new Set(latest.events.map((e) => e.eventId));
        subscribe(`/subscribe/$all?from=${latest.lastPosition}`, {
          onEvent: (_id, data) => {
            const event = JSON.parse(data) as RecordedEvent;
            if (seen.has(event.eventId)) return;
            seen.add(event.eventId);
            if (pausedRef.current) setHeld((h) => [event, ...h].slice(0, KEEP_MAX));
            else setEvents((list) => [event, ...list].slice(0, KEEP_MAX));
          },
          onState: (s, detail) => setState({ state: s, ...(detail ? { detail } : {}) }),
        }, controller.signal);
      } catch (e) {
        if (!controller.signal.aborted) { setError(e); setLoaded(true); }
      }
    })();
    return () => controller.abort();
  }, []);

  const resume = () => {
    setEvents((list) => [...held, ...list].slice(0, KEEP_MAX));
    setHeld([]);
    setPaused(false);
  };

  const shown = useMemo(() => events.filter((e) =>
    (account === '' || (accountIdOf(e) ?? '').toLowerCase().includes(account.toLowerCase()) || e.streamId.toLowerCase().includes(account.toLowerCase()))
    && (type === '' || e.type === type)), [events, account, type]);
  const types = useMemo(() => [...new Set([...ACCOUNT_EVENT_TYPES, ...events.map((e) => e.type)])], [events]);

  return (
    <>
      <PageHeader title="Live event timeline" times subtitle="Every event as it is appended, newest first. Nothing here is ever edited: corrections are new events.">
        <div className="pills">
          <Badge tone={state.state === 'live' ? 'good' : 'warn'} title={state.detail}>
            <span data-testid="stream-state">{state.state === 'live' ? (paused ? 'paused' : 'live') : state.state}</span>
          </Badge>
          {paused
            ? <button onClick={resume} data-testid="resume">Resume{held.length > 0 ? ` (${held.length} new)` : ''}</button>
            : <button className="secondary" onClick={() => setPaused(true)} data-testid="pause">Pause</button>}
        </div>
      </PageHeader>
      {state.detail && state.state !== 'live' && <div className="note warn" style={{ marginBottom: 12 }}>{state.detail}</div>}
      <div className={`grid${selected ? ' with-detail' : ''}`}>
        <Card flush title={<>Events <span className="muted small">{shown.length} shown{events.length >= KEEP_MAX ? ` (latest ${KEEP_MAX})` : ''}</span></>}
          actions={
            <div className="row">
              <input aria-label="filter by account" placeholder="account…" value={account} onChange={(e) => setAccount(e.target.value)} style={{ width: 140 }} />
              <select aria-label="filter by type" value={type} onChange={(e) => setType(e.target.value)}>
                <option value="">all types</option>
                {types.map((t) => <option key={t} value={t}>{t}</option>)}
              </select>
            </div>
          }>
          <ErrorNote error={error} />
          {!loaded ? <div style={{ padding: 16 }}><Loading lines={6} /></div>
            : shown.length === 0 ? <Empty>{events.length === 0 ? (may('writer') ? 'No events yet. Make an account on the Commands page: it appears here at once.' : 'No events yet: each one appears here the moment it is appended.') : 'No event matches the filter.'}</Empty>
            : (
              <div className="table-wrap">
                <table data-testid="timeline">
                  <thead>
                    <tr><th className="num hide-narrow">#</th><th>Type</th><th>Stream</th><th className="num">Amount</th><th className="hide-narrow">Time</th>{!selected && <th className="hide-narrow">By</th>}</tr>
                  </thead>
                  <tbody>
                    {shown.map((e) => {
                      const amount = amountOf(e);
                      const accountId = accountIdOf(e);
                      return (
                        <tr key={e.eventId} className={`clickable${selected?.eventId === e.eventId ? ' selected' : ''}`} onClick={() => setSelected(e)} data-testid="timeline-row" data-type={e.type} data-position={e.globalPosition}>
                          <td className="num mono hide-narrow">{e.globalPosition}</td>
                          <td><Badge tone={typeTone(e.type)}>{e.type}</Badge></td>
                          <td className="wrap-anywhere">
                            {accountId && isAccountStream(e.streamId)
                              ? <Link href={`/account?id=${encodeURIComponent(accountId)}`} onClick={(ev) => ev.stopPropagation()}>{accountId}</Link>
                              : <span className="mono">{e.streamId}</span>}
                            <span className="muted small hide-narrow"> v{e.streamVersion} {describe(e)}</span>
                          </td>
                          <td data-testid="timeline-amount" className={`num ${amount?.sign === 'in' ? 'amount-in' : amount?.sign === 'out' ? 'amount-out' : ''}`}>{amount?.text ?? ''}</td>
                          <td className="hide-narrow small">{formatInstant(e.recordedAt)}</td>
                          {!selected && <td className="hide-narrow small mono">{e.createdBy}</td>}
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )}
        </Card>
        {selected && <div className="detail-pane"><EventDetail event={selected} onClose={() => setSelected(null)} /></div>}
      </div>
    </>
  );
}
