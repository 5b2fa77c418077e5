// Prometheus metrics, one registry per ledger (two ledgers in one process, as in the tests, do not share
// counters). Names follow Prometheus conventions: unit suffixes, _total for counters.
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CommandOutcome } from '../../application/command-handler.js';
import type { LedgerCommandType } from '../../domain/account/commands.js';

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

  private readonly batchCommands = new Histogram({
    name: 'chronicle_group_commit_batch_appends',
    help: 'Appends per group-commit flush (one transaction).',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128],
    registers: [this.registry],
  });

  constructor({ processMetrics = true } = {}) {
    if (processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'chronicle_process_' });
  }

  command(type: LedgerCommandType, outcome: CommandOutcome, durationMs: number): void {
    this.commands.inc({ type, outcome: outcome.kind });
    this.commandSeconds.observe({ type }, durationMs / 1000);
    if (outcome.kind === 'accepted' && !outcome.replayed) this.eventsAppended.inc(outcome.receipt.eventIds.length);
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
