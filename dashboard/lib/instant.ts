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

export const isAtOrBefore = (recordedAt: string, at: string): boolean => (toMicros(recordedAt) ?? 0n) <= (toMicros(at) ?? 0n);

// One time format on every page: the browser's local time as "2026-11-25 14:22:39.808" (ISO order, 24-hour
// clock, no zone letter), with the zone said once per page (`zoneLabel`). The fraction comes from the text,
// not from a Date, so an event's microseconds survive (a zone offset is whole minutes: it never touches them).
const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** `iso` as local "YYYY-MM-DD HH:MM:SS" plus `fractionDigits` (0, 3 or 6) of the second; the input if unreadable. */
export function formatLocal(iso: string, fractionDigits: 0 | 3 | 6 = 3): string {
  const micros = toMicros(iso) ?? (Number.isNaN(Date.parse(iso)) ? null : BigInt(Date.parse(iso)) * 1000n);
  if (micros === null) return iso;
  const date = new Date(Number(micros / 1000n));
  const text = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  const fraction = String(((micros % 1_000_000n) + 1_000_000n) % 1_000_000n).padStart(6, '0').slice(0, fractionDigits);
  return fractionDigits === 0 ? text : `${text}.${fraction}`;
}

/** The local zone as an offset from UTC now: "UTC", "UTC+01:00", "UTC−05:30". */
export function zoneLabel(at: Date = new Date()): string {
  const minutes = -at.getTimezoneOffset();
  if (minutes === 0) return 'UTC';
  const sign = minutes > 0 ? '+' : '−';
  const abs = Math.abs(minutes);
  return `UTC${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

const LOCAL = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?$/;

/**
 * What a person typed in the page's time format (local time, seconds and fraction optional, a space or a "T"
 * between date and time) to an ISO instant with microseconds; null when it is not such a time.
 */
export function parseLocal(text: string): string | null {
  const match = LOCAL.exec(text.trim());
  if (!match) return null;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part) => Number(part ?? '0')) as [number, number, number, number, number, number];
  const date = new Date(year, month - 1, day, hour, minute, second);
  // Date rolls 2026-02-30 over to March: refused rather than guessed.
  if (date.getFullYear() !== year || date.getMonth() !== month - 1 || date.getDate() !== day || date.getHours() !== hour || date.getMinutes() !== minute) return null;
  return fromMicros(BigInt(date.getTime()) * 1000n + BigInt((match[7] ?? '').padEnd(6, '0')));
}
