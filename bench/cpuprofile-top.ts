// Summarises V8 .cpuprofile files (node --cpu-prof): top functions by self time and by inclusive time,
// and self time grouped by where the code lives (ledger source file, npm package, node internals).
//   npx tsx bench/cpuprofile-top.ts /tmp/prof/CPU.*.cpuprofile [--top 30] [--json] [--oncpu]
// --oncpu leaves (idle) and the native writev frame out of the denominator: on an oversubscribed machine the
// sampler charges the time the event loop sat preempted after a socket write (the woken peer took the CPU)
// to writev, so without this the percentages describe wall time, not CPU time.
import { readFileSync } from 'node:fs';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

const args = process.argv.slice(2);
const topIndex = args.indexOf('--top');
const TOP = topIndex >= 0 ? Number(args[topIndex + 1]) || 30 : 30;
const asJson = args.includes('--json');
const onCpu = args.includes('--oncpu');
const EXCLUDED = new Set(['(idle)', 'writev']);
const files = args.filter((a, i) => a.endsWith('.cpuprofile') && args[i - 1] !== '--top');
if (files.length === 0) {
  console.error('usage: tsx bench/cpuprofile-top.ts <file.cpuprofile>... [--top N] [--json]');
  process.exit(2);
}

/** Where a frame's code lives: "ledger:src/…", "pkg:<name>", "node:<module>", or a V8 pseudo-frame. */
function placeOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') return frame.functionName.startsWith('(') ? frame.functionName : '(native/v8)';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return `pkg:${pkg[1]}`;
  const ledger = /\/(?:bench\/results\/)?dist\/(.+)\.js$/.exec(url) ?? /\/src\/(.+)\.ts$/.exec(url);
  if (ledger) return `ledger:src/${ledger[1]}`;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/').slice(0, 2).join('/')}`;
  return url;
}

const keyOf = (frame: CallFrame) =>
  `${frame.functionName || '(anonymous)'}  ${placeOf(frame)}${frame.url ? `:${frame.lineNumber + 1}` : ''}`;

const self = new Map<string, number>();
const inclusive = new Map<string, number>();
const places = new Map<string, number>();
let totalUs = 0;

for (const file of files) {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  for (let i = 0; i < profile.samples.length; i++) {
    // timeDeltas[i] is the time before sample i; attribute the gap after it to it instead (next delta).
    const dt = profile.timeDeltas[i + 1] ?? profile.timeDeltas[i] ?? 0;
    const id = profile.samples[i]!;
    const node = byId.get(id);
    if (!node) continue;
    if (onCpu && EXCLUDED.has(node.callFrame.functionName) && node.callFrame.url === '') continue;
    totalUs += dt;
    const key = keyOf(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + dt);
    const place = placeOf(node.callFrame);
    places.set(place, (places.get(place) ?? 0) + dt);
    const seen = new Set<string>();
    for (let at: number | undefined = id, depth = 0; at !== undefined && depth < 1_000; at = parent.get(at), depth++) {
      const k = keyOf(byId.get(at)!.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + dt);
    }
  }
}

const pct = (us: number) => Math.round((us / totalUs) * 1000) / 10;
const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n);

if (asJson) {
  console.log(JSON.stringify({
    totalMs: Math.round(totalUs / 1000),
    self: top(self, TOP).map(([k, us]) => ({ fn: k, ms: Math.round(us / 1000), pct: pct(us) })),
    inclusive: top(inclusive, TOP).map(([k, us]) => ({ fn: k, ms: Math.round(us / 1000), pct: pct(us) })),
    places: top(places, TOP).map(([k, us]) => ({ place: k, ms: Math.round(us / 1000), pct: pct(us) })),
  }, null, 2));
} else {
  console.log(`profile: ${files.length} file(s), ${Math.round(totalUs / 1000)} ms sampled${onCpu ? ' (on-CPU estimate: idle and writev left out)' : ''}\n`);
  console.log('self time by place:');
  for (const [k, us] of top(places, TOP)) console.log(`  ${String(pct(us)).padStart(5)}%  ${k}`);
  console.log('\ntop functions by self time:');
  for (const [k, us] of top(self, TOP)) console.log(`  ${String(pct(us)).padStart(5)}%  ${k}`);
  console.log('\ntop functions by inclusive time:');
  for (const [k, us] of top(inclusive, TOP)) console.log(`  ${String(pct(us)).padStart(5)}%  ${k}`);
}
