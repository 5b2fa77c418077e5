// Where `chronicle verify` reads a ledger's log from (src/application/verify-log.ts): the database
// (src/adapters/audit/verify-sources.ts) or a running API over HTTP (src/adapters/audit/http-verify-source.ts,
// also run in the dashboard's browser).
import type { SignedCheckpoint } from '../domain/audit/checkpoint.js';
import type { LogItem, VerifiableEvent } from '../domain/audit/verify.js';

export interface VerifySource {
  /** Every signed checkpoint, in size order. */
  checkpoints(): Promise<SignedCheckpoint[]>;
  /** The log's entries in leaf order, from 0, without gaps (a missing stored leaf comes as an item with event null). */
  leaves(): AsyncIterable<LogItem>;
  /** Events committed after the last leaf, in commit order. */
  unsealed(): AsyncIterable<VerifiableEvent>;
}
