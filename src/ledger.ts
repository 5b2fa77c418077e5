// The composition root: wires store, repository, handler, queries and HTTP app. Used by the CLI, the tests
// and the benchmark, so all three run the same assembly.
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import { openEventStore, type StoreTarget } from './adapters/event-store/open-store.js';
import { randomIds } from './adapters/ids/random-ids.js';
import { LedgerMetrics } from './adapters/metrics/prometheus.js';
import { AccountQueries } from './application/account-queries.js';
import { AccountRepository } from './application/account-repository.js';
import { CommandHandler } from './application/command-handler.js';
import { buildApp } from './http/build-app.js';
import type { EventStore } from './ports/event-store.js';
import type { IdGenerator } from './ports/ids.js';

export interface LedgerOptions {
  store: StoreTarget;
  snapshotEvery?: number;
  aggregateCacheMax?: number;
  accountQueueMax?: number;
  logger?: FastifyServerOptions['logger'];
  ids?: IdGenerator;
  /** Node process metrics (CPU, memory, event loop) in /metrics; off in tests that build many ledgers. */
  processMetrics?: boolean;
}

export interface Ledger {
  app: FastifyInstance;
  store: EventStore;
  commands: CommandHandler;
  queries: AccountQueries;
  close(): Promise<void>;
}

export async function createLedger(options: LedgerOptions): Promise<Ledger> {
  const metrics = new LedgerMetrics({ processMetrics: options.processMetrics ?? true });
  const store = await openEventStore(options.store, { onGroupCommitFlush: (n) => metrics.groupCommitFlush(n) });
  const ids = options.ids ?? randomIds;
  const accounts = new AccountRepository(store, {
    snapshotEvery: options.snapshotEvery ?? 100,
    cacheEntriesMax: options.aggregateCacheMax ?? 100_000,
    readPageSize: 1_000,
  });
  const commands = new CommandHandler({
    store, accounts, ids, lockWaitersMax: options.accountQueueMax ?? 10_000,
    observe: (type, outcome, durationMs) => metrics.command(type, outcome, durationMs),
  });
  const queries = new AccountQueries(store);
  const app = await buildApp({ store, commands, queries, ids, metrics, storeKind: options.store.kind, logger: options.logger ?? false });
  return {
    app, store, commands, queries,
    async close() {
      await app.close();
      await store.close();
    },
  };
}
