// The final table of `npm run bench`: issue 14's "what must be true", each figure beside its anchor (the
// range over the anchors runs before and after the measurement) and the ratio's range, its target and whether
// it is met. Pure: bench/http-bench.ts gathers the figures, this lays them out (text, markdown and JSON).
import { anchorRange, ratioRange, type AnchorRun, type Range } from './anchors.js';

/** A figure, or why it was not measured (e.g. 'BENCH_REBUILD=0'). */
export type Figure = number | string;

export interface TableInput {
  connections: number;
  commandsPerSecond: Figure;
  commandP99Ms: Figure;
  readsPerSecond: Figure;
  /** The prober's write→read visibility p99, at full command load. */
  visibilityP99Ms: Figure;
  /** The same at half the full load's rate, paced (phase 1b): the figure the target is for. */
  visibilityHalfRateP99Ms: Figure;
  rebuildEventsPerSecond: Figure;
  sealingEventsPerSecond: Figure;
  embedded: { commandsPerSecond: Figure; commandP99Ms: Figure; readsPerSecond: Figure };
  /** 0, 1 or 2 anchors runs (before, after); none: the anchor and ratio columns say so. */
  anchors: readonly AnchorRun[];
  /** Why there are no anchors (BENCH_ANCHORS=off, the script failed, ...). */
  anchorsNote?: string;
}

export type Met = 'yes' | 'no' | 'partly' | '–';

export interface TableRow {
  what: string;
  measured: number | null;
  measuredText: string;
  anchor: { name: string; min: number; max: number } | null;
  anchorText: string;
  ratio: Range | null;
  ratioText: string;
  target: string;
  met: Met;
}

export interface Table {
  columns: readonly string[];
  rows: TableRow[];
  markdown: string;
}

const fmt = (n: number, digits = 0) => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const ms = (n: number) => `${fmt(n, n < 100 ? 1 : 0)} ms`;
const span = (r: Range, f: (n: number) => string) => (f(r.min) === f(r.max) ? f(r.min) : `${f(r.min)}–${f(r.max)}`);
const times = (n: number) => fmt(n, 2);

type Target = { kind: 'ratio-at-least'; value: number } | { kind: 'at-most'; value: number } | { kind: 'none' };

function judge(target: Target, measured: number | null, ratio: Range | null): Met {
  if (target.kind === 'none') return '–';
  if (target.kind === 'at-most') return measured === null ? '–' : measured <= target.value ? 'yes' : 'no';
  if (ratio === null) return '–';
  if (ratio.min >= target.value) return 'yes';
  if (ratio.max < target.value) return 'no';
  return 'partly'; // the target lies inside the range the anchors allow
}

function targetText(target: Target, unit: string): string {
  if (target.kind === 'none') return '–';
  if (target.kind === 'at-most') return `≤ ${fmt(target.value)} ${unit}`;
  return `≥ ${fmt(target.value, target.value % 1 === 0 ? 1 : 2)}×`;
}

export function buildTable(input: TableInput): Table {
  const rows: TableRow[] = [];
  const noAnchors = input.anchors.length === 0 ? `no anchors${input.anchorsNote ? ` (${input.anchorsNote})` : ''}` : null;

  /** A row against one of the anchors. */
  const vsAnchor = (what: string, figure: Figure, unit: string, anchorName: string, key: keyof AnchorRun, anchorUnit: string, target: Target) => {
    const measured = typeof figure === 'number' ? figure : null;
    const range = anchorRange(input.anchors, key);
    const ratio = measured !== null && range !== null ? ratioRange(measured, range) : null;
    rows.push({
      what,
      measured,
      measuredText: measured === null ? `not measured (${figure as string})` : `${fmt(measured)}${unit}`,
      anchor: range === null ? null : { name: anchorName, ...range },
      anchorText: range === null ? noAnchors ?? '–' : `${anchorName} ${span(range, (n) => fmt(n))}${anchorUnit.startsWith('/') ? '' : ' '}${anchorUnit}`,
      ratio,
      ratioText: ratio === null ? '–' : `${span(ratio, times)}×`,
      target: targetText(target, ''),
      met: judge(target, measured, ratio),
    });
  };

  /** A row against the PostgreSQL run's own figure (one value: a ratio, not a range). */
  const vsRun = (what: string, figure: Figure, base: Figure, text: (n: number) => string, target: Target) => {
    const measured = typeof figure === 'number' ? figure : null;
    const baseValue = typeof base === 'number' && base > 0 ? base : null;
    const ratio = measured !== null && baseValue !== null ? { min: measured / baseValue, max: measured / baseValue } : null;
    rows.push({
      what,
      measured,
      measuredText: measured === null ? `not measured (${figure as string})` : text(measured),
      anchor: baseValue === null ? null : { name: 'the PostgreSQL run', min: baseValue, max: baseValue },
      anchorText: baseValue === null ? `PostgreSQL run: ${typeof base === 'string' ? `not measured (${base})` : '0'}` : `the PostgreSQL run ${text(baseValue)}`,
      ratio,
      ratioText: ratio === null ? '–' : `${times(ratio.min)}×`,
      target: targetText(target, ''),
      met: judge(target, measured, ratio),
    });
  };

  /** A row with an absolute bound and no anchor. */
  const bound = (what: string, figure: Figure, maxMs: number | null) => {
    const measured = typeof figure === 'number' ? figure : null;
    const target: Target = maxMs === null ? { kind: 'none' } : { kind: 'at-most', value: maxMs };
    rows.push({
      what, measured, measuredText: measured === null ? `not measured (${figure as string})` : ms(measured),
      anchor: null, anchorText: '–', ratio: null, ratioText: '–',
      target: targetText(target, 'ms'), met: judge(target, measured, null),
    });
  };

  vsAnchor('commands/s vs pg-transfer', input.commandsPerSecond, '/s', 'pg-transfer', 'pgTransferTps', 'tps', { kind: 'ratio-at-least', value: 1 });
  vsAnchor('commands/s vs Emmett append', input.commandsPerSecond, '/s', 'Emmett append', 'emmettAppendsPerSecond', '/s', { kind: 'ratio-at-least', value: 2 });
  bound(`command p99 (${input.connections} clients)`, input.commandP99Ms, 30);
  vsAnchor('balance reads/s vs http-get', input.readsPerSecond, '/s', 'http-get', 'httpGetPerSecond', 'req/s', { kind: 'ratio-at-least', value: 0.6 });
  bound('write→read visibility p99 at half the max command rate (prober, phase 1b)', input.visibilityHalfRateP99Ms, 50);
  bound('write→read visibility p99 at full command load (prober, phase 1; no target)', input.visibilityP99Ms, null);
  vsAnchor('rebuild events/s vs pg-insert10', input.rebuildEventsPerSecond, '/s', 'pg-insert10', 'pgInsert10EventsPerSecond', 'events/s', { kind: 'ratio-at-least', value: 1 });
  vsAnchor('sealing events/s vs pg-insert10', input.sealingEventsPerSecond, '/s', 'pg-insert10', 'pgInsert10EventsPerSecond', 'events/s', { kind: 'ratio-at-least', value: 1 });
  vsRun('embedded (PGlite) commands/s vs the PostgreSQL run', input.embedded.commandsPerSecond, input.commandsPerSecond, (n) => `${fmt(n)}/s`, { kind: 'ratio-at-least', value: 0.5 });
  vsRun('embedded (PGlite) command p99 vs the PostgreSQL run', input.embedded.commandP99Ms, input.commandP99Ms, ms, { kind: 'none' });
  vsRun('embedded (PGlite) balance reads/s vs the PostgreSQL run', input.embedded.readsPerSecond, input.readsPerSecond, (n) => `${fmt(n)}/s`, { kind: 'ratio-at-least', value: 0.5 });

  const columns = ['what', 'measured', 'anchor (range)', 'ratio (range)', 'target', 'met?'] as const;
  const cell = (text: string) => text.replace(/\|/g, '\\|');
  const markdown = [
    `| ${columns.join(' | ')} |`,
    `|${columns.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${[r.what, r.measuredText, r.anchorText, r.ratioText, r.target, r.met].map(cell).join(' | ')} |`),
  ].join('\n');
  return { columns, rows, markdown };
}

/** One line per anchors run, naming every anchor the table uses (the table itself shows only the range). */
export function describeAnchorRun(label: string, run: AnchorRun): string {
  return `${label}: pg-transfer ${fmt(run.pgTransferTps)} tps, Emmett append ${fmt(run.emmettAppendsPerSecond)}/s, ` +
    `http-get ${fmt(run.httpGetPerSecond)} req/s, pg-insert10 ${fmt(run.pgInsert10EventsPerSecond)} events/s ` +
    `(${fmt(run.pgInsert10Tps)} tps), pg-insert1 ${fmt(run.pgInsert1Tps)} tps, pg-select ${fmt(run.pgSelectTps)} tps, ` +
    `http-post ${fmt(run.httpPostPerSecond)} req/s`;
}
