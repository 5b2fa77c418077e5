// The traffic journal: one JSON object a line, written as it goes (each line with one write(2), so a normal
// exit, an error or SIGINT never loses a line that was recorded). `chronicle simulate-traffic` writes it;
// `chronicle verify-consistency` reads it and checks every line against the ledger.
//
//   {"kind":"start", ...run parameters}
//   {"kind":"command", "key": <Idempotency-Key, also sent as X-Correlation-Id>, "type", "path", "body",
//    "outcome": "acknowledged" | "refused" | "unknown", ...}          one per command, when its outcome is final
//   {"kind":"end", ...summary}                                        only after a clean finish
import { closeSync, openSync, writeSync } from 'node:fs';

export type CommandType = 'CreateAccount' | 'Deposit' | 'Withdraw' | 'Transfer';
export type Outcome = 'acknowledged' | 'refused' | 'unknown';

export const COMMAND_PATHS: Record<CommandType, string> = {
  CreateAccount: '/commands/create-account',
  Deposit: '/commands/deposit',
  Withdraw: '/commands/withdraw',
  Transfer: '/commands/transfer',
};

export interface JournalStart {
  kind: 'start';
  at: string;
  /** Prefix of every Idempotency-Key and account id of this run: events carrying it belong to it. */
  runId: string;
  seed: number;
  clients: number;
  seconds: number;
  accounts: number;
  currencies: string[];
  urls: string[];
  /** The API key's id (never the secret): idempotency keys belong to the key that sent them. */
  keyId: string | null;
}

export interface JournalCommand {
  kind: 'command';
  key: string;
  client: number;
  type: CommandType;
  path: string;
  body: Record<string, string>;
  sentAt: string;
  endedAt: string;
  attempts: number;
  outcome: Outcome;
  /** The definite answer's status (acknowledged, refused). */
  status?: number;
  /** refused: the error code. */
  code?: string;
  /** acknowledged: from the receipt. */
  commandId?: string;
  eventIds?: string[];
  globalPosition?: number;
  replayed?: boolean;
  /** unknown: the last thing that went wrong. */
  error?: string;
}

export interface JournalEnd {
  kind: 'end';
  at: string;
  summary: Record<string, unknown>;
}

export type JournalLine = JournalStart | JournalCommand | JournalEnd;

export interface Journal {
  start: JournalStart | null;
  commands: JournalCommand[];
  end: JournalEnd | null;
}

const OUTCOMES: readonly string[] = ['acknowledged', 'refused', 'unknown'];

/** A journal's text, checked line by line; throws naming the first bad line. */
export function parseJournal(text: string): Journal {
  const journal: Journal = { start: null, commands: [], end: null };
  const lines = text.split('\n');
  lines.forEach((line, index) => {
    if (line.trim() === '') return;
    let value: Partial<JournalLine> & Record<string, unknown>;
    try {
      value = JSON.parse(line) as typeof value;
    } catch {
      throw new Error(`journal line ${index + 1} is not JSON`);
    }
    if (value.kind === 'start') journal.start = value as JournalStart;
    else if (value.kind === 'end') journal.end = value as JournalEnd;
    else if (value.kind === 'command') {
      const c = value as Partial<JournalCommand>;
      if (typeof c.key !== 'string' || typeof c.type !== 'string' || !(c.type in COMMAND_PATHS) || typeof c.body !== 'object'
        || typeof c.outcome !== 'string' || !OUTCOMES.includes(c.outcome)) {
        throw new Error(`journal line ${index + 1} is not a command (key, type, body, outcome)`);
      }
      if (c.outcome === 'acknowledged' && (typeof c.commandId !== 'string' || !Array.isArray(c.eventIds))) {
        throw new Error(`journal line ${index + 1}: an acknowledged command needs its commandId and eventIds`);
      }
      journal.commands.push(c as JournalCommand);
    } else throw new Error(`journal line ${index + 1} has no known kind`);
  });
  return journal;
}

/** Appends lines to a new journal file; each line is one write, so nothing waits in a buffer. */
export class JournalWriter {
  private fd: number | null;

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  write(line: JournalLine): void {
    if (this.fd === null) throw new Error('journal closed');
    writeSync(this.fd, `${JSON.stringify(line)}\n`);
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
