// chronicle_append's JSONB answer (migrations 1, 4, 7) as an AppendResult; also the shape stored with an
// idempotency key.
import type { AppendRequest, AppendResult } from '../../../ports/event-store.js';
import { toSafeNumber } from './event-rows.js';

export function parseAppendResult(out: Record<string, unknown>): AppendResult {
  switch (out['status']) {
    case 'ok': {
      const events = (out['events'] as { eventId: string; streamId: string; streamVersion: number; globalPosition: string }[]).map((e) => ({
        eventId: e.eventId,
        streamId: e.streamId,
        streamVersion: toSafeNumber(e.streamVersion),
        globalPosition: toSafeNumber(e.globalPosition),
      }));
      return {
        ok: true,
        replayed: out['replayed'] === true,
        transactionId: String(out['transactionId']),
        recordedAt: String(out['recordedAt']),
        events,
        streams: (out['streams'] as { streamId: string; version: number }[]).map((s) => ({ streamId: s.streamId, version: toSafeNumber(s.version) })),
      };
    }
    case 'version_conflict':
      return {
        ok: false, reason: 'version_conflict', streamId: String(out['streamId']),
        expectedVersion: out['expected'] as AppendRequest['streams'][number]['expectedVersion'],
        actualVersion: toSafeNumber(out['actual'] as number),
      };
    case 'event_ids_conflict':
      return { ok: false, reason: 'event_ids_conflict', eventIds: out['eventIds'] as string[] };
    default:
      throw new Error(`unexpected chronicle_append result ${JSON.stringify(out)}`);
  }
}
