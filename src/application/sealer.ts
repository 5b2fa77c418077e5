// The sealer: extends the Merkle log with every event, in $all's commit order, and signs checkpoints.
// Asynchronous by design: a command's response never waits for it; an event is sealed a page read after it
// commits, and covered by a signed checkpoint within `checkpointIntervalMs`.
//
// - It follows `$all` like the relay (followAllPages: commit order, positions gap-free in that order),
//   so leaf order is final: no late commit can ever need a leaf before one already sealed.
// - Each page is one transaction: its leaves, the subtrees they complete, and a checkpoint when one is due.
//   A crash loses at most the page in flight, sealed again on restart from the last stored leaf.
// - Checkpoints: at most one per interval while events arrive, and one for the tail once the log goes quiet,
//   so every event is under a signature within an interval or so.
// - One sealer per store (a lease, src/composition/roles.ts); a second one's batch would collide on the leaf index
//   primary key and retry from the stored state.
// - It signs only with the ledger's recorded key (signing-keys.ts): recorded on first use, any other refused.
import { abortableSleep } from '../lib/abortable-sleep.js';
import type { SignedCheckpoint } from '../domain/audit/checkpoint.js';
import { checkpointMessage } from '../domain/audit/checkpoint.js';
import { sealableEntry } from '../domain/audit/canonical.js';
import { toHex, type Sha256 } from '../domain/audit/hash.js';
import { leafHash, type MerkleFrontier, type NodeRef } from '../domain/audit/merkle.js';
import type { EventStore } from '../ports/event-store.js';
import type { CheckpointSigner, MerkleLog, SealedLeaf } from '../ports/merkle-log.js';
import type { ChangeSignal } from './change-signal.js';
import { adoptSigningKey } from './signing-keys.js';
import { followAllPages } from './subscription.js';
import { SEALER_DEFAULTS } from '../domain/limits.js';

/** What the sealer uses of the Merkle log. */
export type MerkleLogStorage = Pick<MerkleLog, 'state' | 'append' | 'latestCheckpoint' | 'signingKeys' | 'recordSigningKey'>;

export interface SealerOptions {
  /** At most one checkpoint per this interval while events arrive; the tail's within about as long. */
  checkpointIntervalMs?: number;
  pageSize?: number;
  pollIntervalMs?: number;
  retryMinMs?: number;
  retryMaxMs?: number;
  wake?: ChangeSignal;
  /** The clock checkpoints are dated by (tests). */
  now?: () => Date;
  onError?: (error: unknown) => void;
  onSealed?: (events: number) => void;
  onCheckpoint?: (checkpoint: SignedCheckpoint) => void;
}

export type SealerState = 'idle' | 'starting' | 'running' | 'retrying' | 'stopped';

interface SealerStatus {
  state: SealerState;
  /** Leaves in the log. */
  size: number;
  /** Global position of the last sealed event (0: none). */
  sealedPosition: number;
  /** Size of the latest signed checkpoint (0: none). */
  checkpointSize: number;
  sealedTotal: number;
  checkpointsTotal: number;
  lastError: string | null;
}

export class Sealer {
  private readonly options: Required<Omit<SealerOptions, 'wake' | 'onError' | 'onSealed' | 'onCheckpoint'>> & SealerOptions;
  private state: SealerState = 'idle';
  private frontier: MerkleFrontier | undefined;
  private sealedPosition = 0;
  private latest: SignedCheckpoint | null = null;
  private lastCheckpointAt = 0;
  private sealedTotal = 0;
  private checkpointsTotal = 0;
  private lastError: string | null = null;
  /** Writes to the log, one after another (a page's batch, the quiet-tail checkpoint). */
  private writeTail: Promise<void> = Promise.resolve();
  private readonly sizeWaiters = new Set<{ size: number; resolve: () => void }>();

  constructor(
    private readonly deps: { store: EventStore; log: MerkleLogStorage; signer: Pick<CheckpointSigner, 'keyId' | 'publicKey' | 'sign'>; sha256: Sha256 },
    options: SealerOptions = {},
  ) {
    this.options = { ...SEALER_DEFAULTS, now: () => new Date(), ...options };
  }

  status(): SealerStatus {
    return {
      state: this.state,
      size: this.frontier?.size ?? 0,
      sealedPosition: this.sealedPosition,
      checkpointSize: this.latest?.treeSize ?? 0,
      sealedTotal: this.sealedTotal,
      checkpointsTotal: this.checkpointsTotal,
      lastError: this.lastError,
    };
  }

  /** Seals until the signal aborts; failures are retried with backoff from the stored state, never skipped. */
  async run(signal: AbortSignal): Promise<void> {
    if (this.state !== 'idle' && this.state !== 'stopped') throw new Error('the sealer is already running');
    this.state = 'starting';
    // Run again after its lease was lost: another process may have sealed meanwhile, so start from storage.
    this.frontier = undefined;
    const timer = setInterval(() => {
      if (this.frontier && this.frontier.size > (this.latest?.treeSize ?? 0) && this.checkpointDue()) {
        this.write(() => this.storeCheckpoint()).catch((error: unknown) => this.failed(error));
      }
    }, Math.max(10, Math.floor(this.options.checkpointIntervalMs / 2)));
    timer.unref();
    let delayMs = this.options.retryMinMs;
    try {
      while (!signal.aborted) {
        try {
          await this.follow(signal);
          delayMs = this.options.retryMinMs;
        } catch (error) {
          this.failed(error);
          this.frontier = undefined; // reload from storage: the failed batch may or may not have landed
          await abortableSleep(delayMs, signal);
          delayMs = Math.min(delayMs * 2, this.options.retryMaxMs);
        }
      }
    } finally {
      clearInterval(timer);
      await this.writeTail.catch(() => {});
      this.state = 'stopped';
    }
  }

  /** Resolves once the log holds at least `size` leaves (tests, and callers that want a fresh proof). */
  waitForSize(size: number, signal?: AbortSignal): Promise<void> {
    if ((this.frontier?.size ?? 0) >= size) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      // Reached or aborted, the waiter and its abort listener both go: a caller that waits again and again on
      // one long-lived signal leaves nothing behind.
      const aborted = () => { this.sizeWaiters.delete(waiter); reject(signal!.reason); };
      const waiter = { size, resolve: () => { this.sizeWaiters.delete(waiter); signal?.removeEventListener('abort', aborted); resolve(); } };
      this.sizeWaiters.add(waiter);
      signal?.addEventListener('abort', aborted, { once: true });
    });
  }

  /** Signs a checkpoint of everything sealed so far now, if the latest does not cover it already. */
  async checkpointNow(): Promise<SignedCheckpoint | null> {
    await this.write(() => this.storeCheckpoint());
    return this.latest;
  }

  private async follow(signal: AbortSignal): Promise<void> {
    if (!this.frontier) {
      // Its key must be the ledger's (recorded now if it is the first): a process started with another key
      // refuses to sign rather than leave checkpoints no verifier of this ledger accepts. Asked again after
      // every lease change and retry.
      await adoptSigningKey(this.deps.log, this.deps.signer);
      const stored = await this.deps.log.state();
      this.frontier = stored.frontier;
      this.sealedPosition = stored.lastPosition;
      this.latest = await this.deps.log.latestCheckpoint();
      this.notifySize();
    }
    const from = this.sealedPosition;
    const pages = await followAllPages(this.deps.store, from, {
      signal, pageSize: this.options.pageSize, pollIntervalMs: this.options.pollIntervalMs, ...(this.options.wake ? { wake: this.options.wake } : {}),
    });
    if (!pages) throw new Error(`sealer: the last sealed position ${from} is not an event of this store`);
    this.state = 'running';
    for await (const page of pages) {
      if (signal.aborted || page.length === 0) continue;
      await this.write(async () => {
        const frontier = this.frontier!;
        // Computed on a copy of the counters: the frontier itself advances only once the batch is stored.
        const leaves: SealedLeaf[] = [];
        const nodes: { ref: NodeRef; hash: Uint8Array }[] = [];
        for (const event of page) {
          const hash = leafHash(this.deps.sha256, sealableEntry(event).entry);
          leaves.push({ leafIndex: frontier.size, globalPosition: event.globalPosition, eventId: event.eventId, leafHash: hash });
          nodes.push(...frontier.append(hash));
        }
        const checkpoint = this.checkpointDue() ? this.signCheckpoint() : undefined;
        try {
          await this.deps.log.append(leaves, nodes, checkpoint);
        } catch (error) {
          this.frontier = undefined;
          throw error;
        }
        if (checkpoint) this.accepted(checkpoint);
        this.sealedPosition = page.at(-1)!.globalPosition;
        this.sealedTotal += page.length;
        this.options.onSealed?.(page.length);
        this.notifySize();
      });
      if ((this.state as SealerState) === 'retrying') this.state = 'running';
    }
  }

  private checkpointDue(): boolean {
    return this.options.now().getTime() - this.lastCheckpointAt >= this.options.checkpointIntervalMs;
  }

  /** A checkpoint of the frontier as it stands (the caller stores it, then calls accepted). */
  private signCheckpoint(): SignedCheckpoint {
    const frontier = this.frontier!;
    const now = this.options.now();
    const unsigned = { treeSize: frontier.size, rootHash: toHex(frontier.root()), issuedAt: now.toISOString() };
    this.lastCheckpointAt = now.getTime();
    return { ...unsigned, keyId: this.deps.signer.keyId, signature: this.deps.signer.sign(checkpointMessage(unsigned)) };
  }

  /** Signs and stores a checkpoint of the frontier when the latest does not cover it. */
  private async storeCheckpoint(): Promise<void> {
    if (!this.frontier || this.frontier.size <= (this.latest?.treeSize ?? 0)) return;
    const checkpoint = this.signCheckpoint();
    await this.deps.log.append([], [], checkpoint);
    this.accepted(checkpoint);
  }

  private accepted(checkpoint: SignedCheckpoint): void {
    this.latest = checkpoint;
    this.checkpointsTotal += 1;
    this.options.onCheckpoint?.(checkpoint);
  }

  private write(fn: () => Promise<void>): Promise<void> {
    const done = this.writeTail.then(fn);
    this.writeTail = done.catch(() => {});
    return done;
  }

  private notifySize(): void {
    const size = this.frontier?.size ?? 0;
    for (const waiter of [...this.sizeWaiters]) if (size >= waiter.size) waiter.resolve();
  }

  private failed(error: unknown): void {
    this.state = 'retrying';
    this.lastError = (error as Error)?.message ?? String(error);
    this.options.onError?.(error);
  }
}
