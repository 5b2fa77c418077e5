// Rebuilding the read model from scratch, from the event store's $all (position 0, commit order) directly,
// not through the bus (ReadProcessor.rebuild() stops its subscription meanwhile). The rebuild holds the
// projection lock alone for its whole run (a session-level advisory lock in the read store), so processors
// in other processes wait, their deliveries kept alive with `working()`, instead of writing into a model
// being emptied. Faster than replaying the bus, and right even when the bus no longer holds the oldest events.
import type { EventStore, RecordedEvent } from '../ports/event-store.js';
import type { ReadModel } from '../ports/read-model.js';
import type { AccountProjection } from '../projections/account-projection.js';

export interface RebuildReport {
  events: number;
  applied: number;
  ignored: number;
  deadLettered: number;
  durationMs: number;
  eventsPerSecond: number;
  /** The checkpoint after the rebuild. */
  position: number;
  finishedAt: string;
}

interface RebuildDeps {
  store: EventStore;
  readModel: ReadModel;
  projection: AccountProjection;
  /** Events read from the store per page (and applied per transaction). */
  pageSize: number;
  /** Events replayed so far, after each page. */
  onProgress?: (events: number) => void;
  onDeadLetter?: (event: RecordedEvent, error: unknown) => void;
}

/** Takes the projection lock alone, empties the model and replays $all into it. */
export async function rebuildReadModel(deps: RebuildDeps): Promise<RebuildReport> {
  return deps.readModel.withProjectionLockAlone(() => replayAll(deps));
}

/**
 * Empties the model and replays $all into it, a page per transaction (one by one for a page that fails,
 * dead-lettering what still fails); the caller holds the projection lock.
 */
async function replayAll({ store, readModel, projection, pageSize, onProgress, onDeadLetter }: RebuildDeps): Promise<RebuildReport> {
  const started = performance.now();
  await readModel.reset(projection.name);
  const report = { events: 0, applied: 0, ignored: 0, deadLettered: 0 };
  let position = 0;
  for (;;) {
    const page = await store.readAll(position, pageSize);
    if (!page) throw new Error(`rebuild: position ${position} vanished from the event store`);
    if (page.events.length === 0) break;
    try {
      const counts = await projection.applyBatch(page.events, { lockHeld: true });
      report.applied += counts.applied;
      report.ignored += counts.ignored;
    } catch {
      for (const event of page.events) {
        try {
          const counts = await projection.applyBatch([event], { lockHeld: true });
          report.applied += counts.applied;
          report.ignored += counts.ignored;
        } catch (error) {
          await readModel.recordDeadLetter(projection.name, event, error, 1);
          report.deadLettered += 1;
          onDeadLetter?.(event, error);
        }
      }
    }
    report.events += page.events.length;
    onProgress?.(report.events);
    position = page.lastPosition;
    if (page.events.length < pageSize) break;
  }
  const durationMs = performance.now() - started;
  const checkpoint = await readModel.checkpoint(projection.name);
  return {
    ...report,
    durationMs: Math.round(durationMs),
    eventsPerSecond: durationMs > 0 ? Math.round((report.events * 1_000) / durationMs) : report.events,
    position: checkpoint?.position ?? 0,
    finishedAt: new Date().toISOString(),
  };
}
