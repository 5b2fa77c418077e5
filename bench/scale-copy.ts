// COPY ... FROM STDIN over node-postgres without the pg-copy-streams package (not a dependency here): a
// minimal "submittable", the extension point node-postgres documents for pg-cursor and pg-query-stream, and
// the one pg-copy-streams itself uses. The whole payload is in memory (one seed batch, a few MB), so there
// is no stream and no back-pressure to handle: on CopyInResponse it sends the chunks and CopyDone.
import type pg from 'pg';

/** What node-postgres's Connection offers a submittable during COPY FROM STDIN. */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
}

class CopyIn {
  private error: Error | undefined;
  constructor(private readonly text: string, private readonly chunks: readonly Buffer[], private readonly done: (error?: Error) => void) {}
  submit(connection: CopyConnection): void {
    connection.query(this.text);
  }
  handleCopyInResponse(connection: CopyConnection): void {
    for (const chunk of this.chunks) connection.sendCopyFromChunk(chunk);
    connection.endCopyFrom();
  }
  // An ErrorResponse ends the query (node-postgres calls no handleReadyForQuery after handleError).
  handleError(error: Error): void {
    this.error = error;
    this.done(error);
  }
  handleReadyForQuery(): void {
    if (this.error === undefined) this.done();
  }
  handleCommandComplete(): void {}
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handlePortalSuspended(): void {}
  handleCopyData(): void {}
}

/** Runs `COPY <target> FROM STDIN` (text format) with the given rows, each a line already escaped. */
export function copyIn(db: pg.Client, target: string, lines: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const payload = Buffer.from(lines.length === 0 ? '' : `${lines.join('\n')}\n`, 'utf8');
    const submittable = new CopyIn(`COPY ${target} FROM STDIN`, [payload], (error) => (error ? reject(error) : resolve()));
    (db as unknown as { query(s: unknown): unknown }).query(submittable);
  });
}

/** A text value in COPY's text format: backslash, tab, newline and carriage return escaped. */
export function copyText(value: string): string {
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : value;
}

/** A bytea value (lower-case hex) in COPY's text format: \x followed by the hex, its backslash escaped. */
export const copyBytea = (hex: string): string => `\\\\x${hex}`;
