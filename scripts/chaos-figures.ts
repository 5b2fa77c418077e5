// The pure parts of the chaos run (scripts/chaos.ts): the write outage around a kill, from the acknowledgement
// times of a simulate-traffic journal; percentiles; the victim chosen from a seeded random number; the README
// table. No I/O here, so test/chaos-figures.unit.test.ts checks them directly.

/** The kinds of victim `--victims random` chooses among (issue 12, item 3). */
export const VICTIM_KINDS = ['pg-primary', 'pg-replica', 'etcd', 'nats', 'ledger-api'] as const;
export type VictimKind = (typeof VICTIM_KINDS)[number];

export interface Outage {
  /** The last acknowledgement at or before the kill (ms since the epoch). */
  lastAckBefore: number;
  /** The first acknowledgement after the kill. */
  firstAckAfter: number;
  /** firstAckAfter - lastAckBefore: the write outage as issue 12 item 3 defines it. */
  ms: number;
}

/** Index of the first element of a sorted array greater than `value`. */
function upperBound(sorted: readonly number[], value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The write outage around a kill at `killAt`: from the last acknowledgement at or before it to the first one
 * after it. `ackTimes` must be sorted ascending. Null when there is no acknowledgement on one side (writes never
 * resumed, or none before).
 */
export function outageAround(ackTimes: readonly number[], killAt: number): Outage | null {
  const i = upperBound(ackTimes, killAt);
  if (i === 0 || i === ackTimes.length) return null;
  const lastAckBefore = ackTimes[i - 1]!;
  const firstAckAfter = ackTimes[i]!;
  return { lastAckBefore, firstAckAfter, ms: firstAckAfter - lastAckBefore };
}

/**
 * The longest time without an acknowledgement from the kill until `endAt` (the next kill, or the end of the
 * run): the gap open at the kill (the outage above) or any later one, e.g. a switch of synchronous standby or
 * the victim's own restart, after acknowledgements had resumed. `ackTimes` sorted ascending; null when there is
 * none after the kill.
 */
export function longestGapAfter(ackTimes: readonly number[], killAt: number, endAt: number): number | null {
  const i = upperBound(ackTimes, killAt);
  if (i === 0 || i === ackTimes.length) return null;
  // The gap open at the kill always counts; a later one only when it closed by endAt (one still open then is the
  // next kill's).
  let longest = ackTimes[i]! - ackTimes[i - 1]!;
  for (let j = i + 1; j < ackTimes.length && ackTimes[j]! <= endAt; j++) longest = Math.max(longest, ackTimes[j]! - ackTimes[j - 1]!);
  return longest;
}

/** Acknowledgement times (ms) of the journal lines in `text` (whole lines only), unsorted. */
export function ackTimesOf(text: string): number[] {
  const times: number[] = [];
  for (const line of text.split('\n')) {
    // Cheap filter first: a long run's journal has hundreds of thousands of lines.
    if (!line.includes('"outcome":"acknowledged"')) continue;
    const parsed = JSON.parse(line) as { kind?: string; outcome?: string; endedAt?: string };
    if (parsed.kind === 'command' && parsed.outcome === 'acknowledged' && typeof parsed.endedAt === 'string') times.push(Date.parse(parsed.endedAt));
  }
  return times;
}

/** Nearest-rank percentile (p in (0, 100]) of `values`; null for none. p50 of 10 values is the 5th smallest. */
export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  if (!(p > 0 && p <= 100)) throw new RangeError(`percentile ${p} is not in (0, 100]`);
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A victim kind from a uniform random number in [0, 1). */
export function victimKindOf(roll: number): VictimKind {
  return VICTIM_KINDS[Math.min(VICTIM_KINDS.length - 1, Math.floor(roll * VICTIM_KINDS.length))]!;
}

export interface KillRecord {
  n: number;
  victim: string;
  kind: VictimKind;
  /** When the SIGKILLs had been sent (ISO). */
  killedAt: string;
  /** A pg replica victim: whether it was the synchronous standby at the kill (strict mode then waits for a switch). */
  wasSync?: boolean;
  outageMs: number | null;
  /** The longest gap between acknowledgements from the kill until the next kill (longestGapAfter). */
  longestGapMs: number | null;
  /** pg primary kills: from the kill until another node is primary in `cluster status`. */
  newPrimaryMs: number | null;
  newPrimary: string | null;
  /** From `cluster restart` until the node answers again (a pg node: as a running replica). */
  backMs: number | null;
  backAs: string | null;
  /** The 1-minute load average at the kill. */
  load1: number;
}

const sec = (ms: number | null) => (ms === null ? '-' : (ms / 1000).toFixed(ms < 1_000 ? 2 : 1));

/** The per-kill markdown table, for the README. */
export function markdownTable(kills: readonly KillRecord[]): string[] {
  const lines = [
    '| # | victim | write outage s | longest gap until the next kill s | new primary after s | back after s (as) | load 1 min |',
    '|---|---|---|---|---|---|---|',
  ];
  for (const k of kills) {
    lines.push(`| ${k.n} | ${k.victim} (${k.kind}${k.wasSync ? ', sync' : ''}) | ${sec(k.outageMs)} | ${sec(k.longestGapMs)} | ${k.newPrimary === null ? '-' : `${sec(k.newPrimaryMs)} (${k.newPrimary})`} | ` +
      `${sec(k.backMs)}${k.backAs ? ` (${k.backAs})` : ''} | ${k.load1.toFixed(1)} |`);
  }
  return lines;
}

export interface OutageSummary {
  kills: number;
  p50Ms: number | null;
  maxMs: number | null;
  minMs: number | null;
}

export function summarise(outagesMs: readonly number[]): OutageSummary {
  return {
    kills: outagesMs.length,
    p50Ms: percentile(outagesMs, 50),
    maxMs: outagesMs.length === 0 ? null : Math.max(...outagesMs),
    minMs: outagesMs.length === 0 ? null : Math.min(...outagesMs),
  };
}
