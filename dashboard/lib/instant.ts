// Instants to the microsecond, as the event store keeps them ("2026-11-25T13:22:39.808123Z"). A JavaScript
// Date holds milliseconds only, so "just before this event" is computed on the text: epoch microseconds as a
// bigint, minus one.

const ISO = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,6}))?Z$/;

export function toMicros(iso: string): bigint | null {
  const match = ISO.exec(iso);
  if (!match) return null;
  const seconds = Date.parse(`${match[1]}Z`);
  if (Number.isNaN(seconds)) return null;
  return BigInt(seconds) * 1000n + BigInt((match[2] ?? '').padEnd(6, '0'));
}

export function fromMicros(micros: bigint): string {
  const ms = micros / 1000n;
  const whole = new Date(Number(ms - (ms % 1000n))).toISOString().slice(0, 19);
  return `${whole}.${String(micros % 1_000_000n).padStart(6, '0')}Z`;
}

/** One microsecond before `iso`: the state just before the event recorded then. */
export function justBefore(iso: string): string {
  const micros = toMicros(iso);
  return micros === null ? iso : fromMicros(micros - 1n);
}

/** `value` of an <input type="datetime-local" step="1"> (local time) to an ISO instant; null if empty. */
export function fromLocalInput(value: string): string | null {
  if (value === '') return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}

/** An ISO instant to the local-time text a datetime-local input shows. */
export function toLocalInput(iso: string): string {
  const date = new Date(iso);
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export const isAtOrBefore = (recordedAt: string, at: string): boolean => (toMicros(recordedAt) ?? 0n) <= (toMicros(at) ?? 0n);
