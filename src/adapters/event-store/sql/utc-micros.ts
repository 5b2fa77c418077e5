/**
 * A TIMESTAMPTZ expression as RecordedEvent.recordedAt's text: ISO-8601 UTC with microseconds,
 * `2026-01-02T03:04:05.123456Z`. Made in SQL, so both drivers return the same string (no JS Date rounds it).
 */
export const utcMicros = (expression: string): string => `to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;
