// The quorum gate: nothing a follower hands on (the relay to the bus, the sealer into the signed Merkle log,
// the live feed to SSE subscribers, a rebuild into the read model) may vanish in a failover. PostgreSQL shows
// a commit on the primary before a synchronous standby has it when the commit's wait for synchronous
// replication is cancelled (pg_cancel_backend, a statement timeout, a terminated backend) or when the primary
// crashed and restarted: promoting the standby then erases it.
//
// So a page of `$all` is handed out only once the synchronous standbys have flushed the WAL it was read at:
// - the mark: pg_current_wal_flush_lsn() taken after the read's snapshot (a column of the read's own
//   statement, queries/read-all.sql read_all_gated). Every commit the snapshot saw was flushed locally
//   before it became visible, so its commit record ends at or before the mark;
// - durable: the k-th highest flush_lsn among the synchronous standbys in pg_stat_replication (FIRST k:
//   sync_state 'sync'; ANY k: 'quorum'), k from synchronous_standby_names: the very condition under which
//   PostgreSQL acknowledges a commit;
// - no gate when synchronous_standby_names is empty (a single server, or Patroni fell back to asynchronous),
//   on a server in recovery, and on PGlite (no replication): the setting comes with the read itself, so the
//   no-sync path costs no round trip and sees Patroni's runtime changes at once;
// - a mark and a standby position are compared only when the same server incarnation (postmaster start and
//   WAL timeline) gave both: after a failover the new primary's LSNs say nothing of the old one's WAL.
import { QUORUM_GATE_DEFAULTS } from '../../../domain/limits.js';
import type { SqlQueryable } from './sql-client.js';
import { namedQueries } from './sql-files.js';

const Q = namedQueries(new URL('./queries/quorum.sql', import.meta.url), ['wal_mark', 'standbys_flushed']);

/** The WAL mark's select, for a read to carry as a subquery of its own statement (read-all.sql read_all_gated). */
export const WAL_MARK_SQL = Q.wal_mark;

/** Where the WAL stood right after a read, and what was synchronous then (quorum.sql wal_mark). */
export interface WalMark {
  sync_names: string;
  flush_lsn: string | null;
  server: string | null;
}

/** synchronous_standby_names, parsed: how many standbys must have a commit, and how they are chosen. */
export interface SyncRule {
  method: 'first' | 'any';
  k: number;
}

/**
 * `FIRST k (a, b)`, `ANY k (a, b)`, `k (a, b)` or a plain list (`a, b`, `*`: FIRST 1). Null: nothing is
 * synchronous (empty). Names may be quoted; only the count and the method matter here.
 */
export function parseSyncStandbyNames(setting: string): SyncRule | null {
  const s = setting.trim();
  if (s === '') return null;
  const m = /^(?:(first|any)\s+)?(\d+)\s*\(/i.exec(s);
  if (m) return { method: (m[1]?.toLowerCase() ?? 'first') as SyncRule['method'], k: Math.max(1, Number(m[2])) };
  return { method: 'first', k: 1 };
}

/** An LSN (`16/B374D848`) as a number that orders as LSNs do. */
export function lsnValue(lsn: string): bigint {
  const [hi, lo] = lsn.split('/');
  if (hi === undefined || lo === undefined) throw new Error(`not an LSN: ${lsn}`);
  return (BigInt(`0x${hi}`) << 32n) + BigInt(`0x${lo}`);
}

/** The LSN the quorum has flushed: the k-th highest of the synchronous standbys' (highest first); null: fewer than k. */
export function quorumFlushed(rule: SyncRule, flushedDescending: readonly string[]): bigint | null {
  const lsn = flushedDescending[rule.k - 1];
  return lsn === undefined ? null : lsnValue(lsn);
}

export interface QuorumGateHooks {
  /** Each gated page's wait for the quorum, in seconds (0: already durable), and whether it was released. */
  onWait?: (seconds: number, released: boolean) => void;
  /** The gate has held pages back for longer than warnAfterMs (once per hold). */
  onHeld?: (hold: { heldMs: number; markLsn: string; quorumLsn: string | null; syncNames: string }) => void;
  /** A hold reported by onHeld is over. */
  onReleased?: (hold: { heldMs: number }) => void;
}

export type QuorumGateOptions = Partial<typeof QUORUM_GATE_DEFAULTS> & QuorumGateHooks;

export class QuorumGate {
  private readonly options: typeof QUORUM_GATE_DEFAULTS & QuorumGateHooks;
  /** The highest quorum-flushed LSN seen, and on which server: a later mark at or below it needs no query. */
  private known: { server: string; lsn: bigint } | null = null;
  /** Since when pages have been held back (null: none is), and whether that was reported. */
  private heldSince: number | null = null;
  private heldReported = false;

  constructor(private readonly db: SqlQueryable, options: QuorumGateOptions = {}) {
    this.options = { ...QUORUM_GATE_DEFAULTS, ...options };
  }

  /** The WAL mark now, for a read that could not carry it in its own statement. Run after the read. */
  async markAfterRead(): Promise<WalMark> {
    return (await this.db.query<WalMark>(Q.wal_mark, [], 'chronicle_wal_mark'))[0]!;
  }

  /**
   * Whether what was read before `mark` is durable on the quorum, waiting at most `waitMs` (polling with
   * backoff). True at once when nothing is synchronous. False: not confirmed in time (or the server changed):
   * hand nothing out.
   */
  async durable(mark: WalMark, waitMs: number = this.options.waitMaxMs): Promise<boolean> {
    if (parseSyncStandbyNames(mark.sync_names) === null || mark.flush_lsn === null || mark.server === null) return true;
    const target = lsnValue(mark.flush_lsn);
    const started = performance.now();
    if (this.known !== null && this.known.server === mark.server && this.known.lsn >= target) return this.released(started);
    let pause: number = this.options.pollMinMs;
    let quorum: bigint | null = null;
    for (;;) {
      const row = (await this.db.query<{ sync_names: string; server: string | null; flushed: string[] }>(
        Q.standbys_flushed, [], 'chronicle_standbys_flushed'))[0]!;
      if (row.server !== mark.server) break; // another server answers now: the read must be done again there
      const rule = parseSyncStandbyNames(row.sync_names);
      if (rule === null) return this.released(started); // synchronous replication switched off (Patroni's fallback)
      quorum = quorumFlushed(rule, row.flushed);
      if (quorum !== null && (this.known === null || this.known.server !== row.server || this.known.lsn < quorum)) {
        this.known = { server: row.server, lsn: quorum };
      }
      if (quorum !== null && quorum >= target) return this.released(started);
      const waited = performance.now() - started;
      this.noteHeld(mark, quorum);
      if (waited + pause > waitMs) break;
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, this.options.pollMaxMs);
    }
    this.noteHeld(mark, quorum);
    this.options.onWait?.((performance.now() - started) / 1000, false);
    return false;
  }

  private released(started: number): true {
    this.options.onWait?.((performance.now() - started) / 1000, true);
    if (this.heldSince !== null) {
      if (this.heldReported) this.options.onReleased?.({ heldMs: Date.now() - this.heldSince });
      this.heldSince = null;
      this.heldReported = false;
    }
    return true;
  }

  private noteHeld(mark: WalMark, quorum: bigint | null): void {
    const now = Date.now();
    this.heldSince ??= now;
    if (!this.heldReported && now - this.heldSince >= this.options.warnAfterMs) {
      this.heldReported = true;
      this.options.onHeld?.({
        heldMs: now - this.heldSince, markLsn: mark.flush_lsn ?? '', syncNames: mark.sync_names,
        quorumLsn: quorum === null ? null : `${(quorum >> 32n).toString(16).toUpperCase()}/${(quorum & 0xffffffffn).toString(16).toUpperCase()}`,
      });
    }
  }
}
