// Prometheus metrics, one registry per ledger (two ledgers in one process, as in the tests, do not share
// counters). Names follow Prometheus conventions: unit suffixes, _total for counters and for nothing else
// (test/metrics-lint.int.test.ts runs promtool check metrics on /metrics).
//
// It takes the shapes it counts (a command's outcome, a lag, a projection's outcome) as it needs them, not the
// application's types: an adapter depends on ports and the domain only (test/architecture.unit.test.ts).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Delivery } from '../../ports/event-bus.js';
import type { RecordedEvent } from '../../ports/event-store.js';

/** What a command counts as: its outcome's kind; an accepted one that was no replay appended its events. */
type CommandOutcome = { kind: string; replayed?: boolean; receipt?: { eventIds: readonly string[] } };
/** The relay's lag (src/application/relay.ts RelayLag). */
type RelayLag = { eventsBehind: number; lagMs: number };
/** The read model's lag (src/application/read-model-queries.ts ProjectionLag). */
type ProjectionLag = { events: number; ms: number };
/** What applying an event did (src/projections/account-projection.ts ApplyOutcome). */
type ApplyOutcome = 'applied' | 'duplicate' | 'ignored';

/** Node process metrics (prom-client's default metrics) under this prefix. */
const PROCESS_PREFIX = 'chronicle_process_';
const PROCESS_GAUGES_NAMED_TOTAL = ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total'];

export class LedgerMetrics {
  readonly registry = new Registry();

  private readonly commands = new Counter({
    name: 'chronicle_commands_total',
    help: 'Commands handled, by type and outcome (accepted, rejected, idempotency_key_reused, conflict).',
    labelNames: ['type', 'outcome'] as const,
    registers: [this.registry],
  });

  private readonly commandSeconds = new Histogram({
    name: 'chronicle_command_duration_seconds',
    help: 'Time from a command entering the handler to its outcome, including waiting for its accounts.',
    labelNames: ['type'] as const,
    buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2],
    registers: [this.registry],
  });

  private readonly eventsAppended = new Counter({
    name: 'chronicle_events_appended_total',
    help: 'Events appended by commands (idempotent replays not counted).',
    registers: [this.registry],
  });

  private readonly quorumWaitSeconds = new Histogram({
    name: 'chronicle_quorum_wait_seconds',
    help: 'How long a page of $all waited for the synchronous standbys to flush it before a follower could have it (0: already durable), by whether it was released or held back for the next poll. Absent without synchronous replication.',
    labelNames: ['outcome'] as const,
    buckets: [0, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1],
    registers: [this.registry],
  });

  private readonly batchCommands = new Histogram({
    name: 'chronicle_group_commit_batch_appends',
    help: 'Appends per group-commit flush (one transaction).',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });

  private readonly relayPublished = new Counter({
    name: 'chronicle_relay_events_published_total',
    help: 'Events the outbox relay published and the bus acknowledged.',
    registers: [this.registry],
  });

  private readonly projectionEvents = new Counter({
    name: 'chronicle_projection_events_total',
    help: 'Events delivered to a projection by the bus, by outcome (applied, duplicate, ignored).',
    labelNames: ['projection', 'outcome'] as const,
    registers: [this.registry],
  });

  private readonly projectionRedeliveries = new Counter({
    name: 'chronicle_projection_redeliveries_total',
    help: 'Deliveries of an event the projection had been given before (after a failure, a crash or an ack timeout).',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });

  private readonly projectionDeadLetters = new Counter({
    name: 'chronicle_projection_dead_letters_total',
    help: 'Events a projection gave up on and put in the dead-letter store.',
    labelNames: ['projection'] as const,
    registers: [this.registry],
  });

  private readonly projectionVisibility = new Histogram({
    name: 'chronicle_projection_visibility_seconds',
    help: 'From an event\'s commit (recorded_at) to its being applied in the read model: the end-to-end lag of the write-to-read flow.',
    labelNames: ['projection'] as const,
    buckets: [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });

  constructor({ processMetrics = true } = {}) {
    if (processMetrics) {
      collectDefaultMetrics({ register: this.registry, prefix: PROCESS_PREFIX });
      // prom-client's nodejs_active_{handles,requests,resources}_total are gauges named like counters
      // (promtool: "non-counter metrics should not have _total suffix"). Each is the sum over the `type` label
      // of the gauge of the same name without _total, which stays: sum(chronicle_process_nodejs_active_handles).
      for (const name of PROCESS_GAUGES_NAMED_TOTAL) this.registry.removeSingleMetric(`${PROCESS_PREFIX}${name}`);
    }
  }

  command(type: string, outcome: CommandOutcome, durationMs: number): void {
    this.commands.inc({ type, outcome: outcome.kind });
    this.commandSeconds.observe({ type }, durationMs / 1000);
    if (outcome.kind === 'accepted' && !outcome.replayed && outcome.receipt) this.eventsAppended.inc(outcome.receipt.eventIds.length);
  }

  /** Relay lag gauges, measured when scraped. */
  watchRelay(lag: () => Promise<RelayLag>): void {
    let last: Promise<RelayLag> | null = null;
    const measure = () => (last ??= lag().finally(() => { last = null; }));
    new Gauge({
      name: 'chronicle_relay_lag_events', help: 'Events committed in the store and not yet published to the bus (counted up to a cap).',
      registers: [this.registry], async collect() { this.set((await measure()).eventsBehind); },
    });
    new Gauge({
      name: 'chronicle_relay_lag_seconds', help: 'How long the oldest unpublished event has waited.',
      registers: [this.registry], async collect() { this.set((await measure()).lagMs / 1000); },
    });
  }

  /** The Merkle log: leaves sealed, the latest signed size, and events committed but not yet sealed. */
  watchSealer(status: () => { size: number; checkpointSize: number; sealedTotal: number; checkpointsTotal: number }): void {
    const gauge = (name: string, help: string, value: (s: ReturnType<typeof status>) => number) => new Gauge({
      name, help, registers: [this.registry], collect() { this.set(value(status())); },
    });
    gauge('chronicle_merkle_log_size', 'Leaves in the Merkle log (events sealed).', (s) => s.size);
    gauge('chronicle_merkle_checkpoint_size', 'Tree size of the latest signed checkpoint.', (s) => s.checkpointSize);
    gauge('chronicle_merkle_unsigned_leaves', 'Leaves sealed but not yet under a signed checkpoint.', (s) => s.size - s.checkpointSize);
    // Counts since this process started that only grow: counters (rate() and increase() work on them), read
    // from the sealer when scraped. They were gauges named _total until issue 13 (promtool warned).
    const counter = (name: string, help: string, value: (s: ReturnType<typeof status>) => number) => new Counter({
      name, help, registers: [this.registry], collect() { this.reset(); this.inc(value(status())); },
    });
    counter('chronicle_sealer_sealed_total', 'Events sealed by this process.', (s) => s.sealedTotal);
    counter('chronicle_sealer_checkpoints_total', 'Checkpoints signed by this process.', (s) => s.checkpointsTotal);
  }

  /** The age of the transaction holding the event log head (0: none): src/application/append-stall-monitor.ts. */
  watchAppendStall(current: () => { ageMs: number } | null): void {
    new Gauge({
      name: 'chronicle_log_head_held_seconds',
      help: 'How long the transaction holding the event log head (every append waits for it) has been open; 0 when none. Normally milliseconds.',
      registers: [this.registry],
      collect() { this.set((current()?.ageMs ?? 0) / 1000); },
    });
  }

  relayPublishedEvent(): void {
    this.relayPublished.inc();
  }

  /** Projection lag gauges, from the lag monitor's last measurement. */
  watchProjection(projection: string, lag: () => ProjectionLag | null): void {
    const gauge = (name: string, help: string, value: (l: ProjectionLag) => number) => new Gauge({
      name, help, labelNames: ['projection'] as const, registers: [this.registry],
      collect() {
        const current = lag();
        if (current) this.set({ projection }, value(current));
      },
    });
    // Counters of this projection exist from the start at 0 (a rate over a series that appears late is wrong).
    for (const outcome of ['applied', 'duplicate', 'ignored'] as const) this.projectionEvents.inc({ projection, outcome }, 0);
    this.projectionRedeliveries.inc({ projection }, 0);
    this.projectionDeadLetters.inc({ projection }, 0);
    gauge('chronicle_projection_lag_events', 'Events committed in the store and not yet applied to the read model (counted up to a cap).', (l) => l.events);
    gauge('chronicle_projection_lag_seconds', 'How long the oldest unapplied event has waited.', (l) => l.ms / 1000);
  }

  projectionDelivered(projection: string, delivery: Delivery): void {
    if (delivery.redelivered) this.projectionRedeliveries.inc({ projection });
  }

  projectionHandled(projection: string, event: RecordedEvent, outcome: ApplyOutcome): void {
    this.projectionEvents.inc({ projection, outcome });
    if (outcome === 'applied') this.projectionVisibility.observe({ projection }, Math.max(0, Date.now() - Date.parse(event.recordedAt)) / 1000);
  }

  projectionDeadLettered(projection: string): void {
    this.projectionDeadLetters.inc({ projection });
  }

  quorumWait(seconds: number, released: boolean): void {
    this.quorumWaitSeconds.observe({ outcome: released ? 'released' : 'held' }, seconds);
  }

  groupCommitFlush(appends: number): void {
    this.batchCommands.observe(appends);
  }

  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
