// Axes that read at a glance (issue 13 item 10): a value axis that fits the data instead of starting at 0
// (a balance moving between 1,000 and 1,010 is not a flat line), and a time axis whose ticks sit on round
// instants, each labelled once, in the page's one time format (lib/instant.ts), with no more precision
// than the spacing needs. Pure functions: test/dashboard-lib.unit.test.ts checks them.

/** 1, 2, 2.5 or 5 times a power of ten: the smallest such step at least `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const factor of [1, 2, 2.5, 5, 10]) if (factor * power >= raw * (1 - 1e-9)) return factor * power;
  return 10 * power;
}

/** A step's decimal places (2.5 → 1, 0.05 → 2), so ticks print without float noise. */
function decimalsOf(step: number): number {
  const [, fraction = ''] = Number(step.toPrecision(12)).toFixed(12).replace(/0+$/, '').split('.');
  return fraction.length;
}

/**
 * A value axis around `values`: from a round number at or below the smallest to one at or above the largest,
 * in about `count` ticks (half a step lower when the smallest value would sit on the axis line). It reaches
 * 0 only when the data does (or when all of it is 0); a single value gets
 * a step either side. Never below 0 for data that never is. `minStep`: the finest step worth a tick (a
 * currency's minor unit: no ¥2.5 ticks).
 */
export function fitValueAxis(values: readonly number[], count = 5, minStep = 0): { domain: [number, number]; ticks: number[]; decimals: number } {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return { domain: [0, 1], ticks: [0, 1], decimals: 0 };
  const min = Math.min(...finite);
  const max = Math.max(...finite);
  const span = max - min;
  let step = Math.max(minStep, niceStep(span > 0 ? span / Math.max(1, count - 1) : Math.max(Math.abs(max) / 10, 1)));
  // 2.5 where only whole minor units make sense (¥2.5, €0.025): the next round step instead.
  if (minStep > 0 && decimalsOf(step) > decimalsOf(minStep)) step = niceStep(step * 1.001);
  const decimals = decimalsOf(step);
  const round = (v: number) => Number(v.toFixed(decimals));
  let lo = Math.floor(min / step + 1e-9) * step;
  let hi = Math.ceil(max / step - 1e-9) * step;
  if (hi - lo < step / 2) { lo -= step; hi += step; }
  if (min >= 0 && lo < 0) lo = 0;
  const ticks: number[] = [];
  for (let v = lo; v <= hi + step / 2; v += step) ticks.push(round(v));
  // The lowest value on the bottom tick would be drawn on the axis line itself (a step down to it invisible):
  // half a step of room below it, without a tick of its own.
  const bottom = min > 0 && Math.abs(min - lo) < step / 1e6 ? Math.max(0, lo - step / 2) : lo;
  return { domain: [Number(bottom.toFixed(decimals + 1)), round(hi)], ticks, decimals };
}

const SECOND = 1_000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const TIME_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, SECOND, 2 * SECOND, 5 * SECOND, 10 * SECOND, 15 * SECOND, 30 * SECOND,
  MINUTE, 2 * MINUTE, 5 * MINUTE, 10 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
  DAY, 2 * DAY, 7 * DAY, 14 * DAY, 30 * DAY, 91 * DAY, 182 * DAY, 365 * DAY];

const pad = (n: number, width = 2) => String(n).padStart(width, '0');
const localDate = (d: Date) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const localTime = (d: Date, withSeconds: boolean) => `${pad(d.getHours())}:${pad(d.getMinutes())}${withSeconds ? `:${pad(d.getSeconds())}` : ''}`;

/**
 * Ticks for a time axis over [min, max] (epoch milliseconds), at most `maxTicks`, on multiples of a round
 * step (local time), and the label of each: "14:03:04.250" for sub-second steps, "14:03:04" under a minute,
 * "14:03" under a day (with the date in front when the axis spans more than one day), "2026-11-25" beyond.
 * The label never has less precision than the step, so no two ticks read the same. An empty or zero-width
 * range is widened by a second either side.
 */
export function timeAxis(min: number, max: number, maxTicks = 6): { domain: [number, number]; ticks: number[]; label: (t: number) => string } {
  let lo = Math.min(min, max);
  let hi = Math.max(min, max);
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) { lo = 0; hi = SECOND; }
  if (hi - lo < 1) { lo -= SECOND; hi += SECOND; }
  // Round instants in local time: shift by the zone offset, round, shift back (whole-day steps start at local midnight).
  const offset = new Date(lo).getTimezoneOffset() * MINUTE;
  const first = (step: number) => Math.ceil((lo - offset) / step) * step + offset;
  const countOf = (step: number) => (first(step) > hi ? 0 : Math.floor((hi - first(step)) / step) + 1);
  const ticksOf = (step: number) => Array.from({ length: countOf(step) }, (_, i) => first(step) + i * step);
  // The finest step with at most maxTicks ticks. If that step has none in the range (12 hours that hold no
  // midnight), the next finer step's ticks, every other (or third) one, labelled with that step's precision.
  let index = 0;
  while (index < TIME_STEPS.length - 1 && countOf(TIME_STEPS[index]!) > maxTicks) index++;
  let step = TIME_STEPS[index]!;
  let ticks = ticksOf(step);
  if (ticks.length === 0 && index > 0) {
    step = TIME_STEPS[index - 1]!;
    const finer = ticksOf(step);
    const every = Math.ceil(finer.length / maxTicks);
    ticks = finer.filter((_, i) => i % every === 0);
  }
  const days = new Set(ticks.map((t) => localDate(new Date(t))));
  const label = (t: number) => {
    const d = new Date(t);
    if (step >= DAY) return localDate(d);
    if (step >= MINUTE) return days.size > 1 ? `${localDate(d)} ${localTime(d, false)}` : localTime(d, false);
    if (step >= SECOND) return localTime(d, true);
    return `${localTime(d, true)}.${pad(d.getMilliseconds(), 3)}`;
  };
  // A 25-hour day (summer time ending) can put two day-steps on one date: such a tick is dropped.
  const seen = new Set<string>();
  const unique = ticks.filter((t) => !seen.has(label(t)) && seen.add(label(t)) !== undefined);
  return { domain: [lo, hi], ticks: unique, label };
}
