// chronicle simulate-traffic: N concurrent clients send a seeded mix of deposits, withdrawals and transfers
// (some refused for insufficient funds, on purpose) to a running ledger for S seconds, every request with an
// Idempotency-Key, and journal each command's final outcome. A request without a definite answer is retried
// with the same key, on the next URL, with backoff (src/cli/traffic/ledger-client.ts). Progress once a second
// on stderr; at the end a summary with the longest write gap: the time from the last acknowledgement before
// an outage to the first one after it, which is how a failover's outage is measured.
import { TRAFFIC_ACCOUNTS_MAX, TRAFFIC_CLIENTS_MAX, TRAFFIC_DEFAULTS, TRAFFIC_SECONDS_MAX } from '../../domain/limits.js';
import { intFlag, keyFlag, keyIdOf, parseArgs, urlsFlag, UsageError } from './args.js';
import { COMMAND_PATHS, JournalWriter, type CommandType, type JournalCommand } from './journal.js';
import { LedgerClient, resolveCommand, type Answer, type Resolution } from './ledger-client.js';
import { seededRandom, type SeededRandom as Random } from '../../lib/seeded-random.js';

export const SIMULATE_USAGE = `chronicle simulate-traffic --url <API>[,<API>…] --key <admin key> --clients <N> --seconds <S> --journal <file>
                 [--accounts <M> (${TRAFFIC_DEFAULTS.accounts})] [--currencies EUR,USD] [--seed <n>]`;

const HELP = `usage: ${SIMULATE_USAGE}

Opens M accounts, then N concurrent clients send deposits, withdrawals and transfers for S seconds. Every
request carries an Idempotency-Key (also its X-Correlation-Id). A 503, a timeout or a connection error is
retried with the same key, on the next --url, with backoff, for up to ${TRAFFIC_DEFAULTS.retryGiveUpMs / 1000} s; then the outcome is unknown.
The journal gets one JSON line per command with its outcome: acknowledged (with its event ids), refused (with
the code) or unknown. Progress on stderr every second; a summary on stdout at the end, with the longest gap
between two acknowledgements. Ctrl-C stops early; the journal keeps every line. The key may come from
CHRONICLE_KEY. Then: chronicle verify-consistency --journal <file>.`;

const CURRENCY = /^[A-Z]{3}$/;

/** The longest time without an acknowledgement: from the last ack before to the first ack after. */
export class GapTracker {
  private last: number | null = null;
  longest: { ms: number; from: number; to: number } | null = null;

  ack(at: number): void {
    if (this.last !== null && at - this.last > (this.longest?.ms ?? -1)) this.longest = { ms: at - this.last, from: this.last, to: at };
    if (this.last === null || at > this.last) this.last = at;
  }

  /** The longest gap so far, counting the one still open at `now`. */
  longestSoFar(now: number): number {
    return Math.max(this.longest?.ms ?? 0, this.last === null ? 0 : now - this.last);
  }
}

interface Account { id: string; currency: string }

interface Stats {
  sent: number;
  acked: number;
  refused: number;
  unknown: number;
  attempts: number;
  noAnswer: number;
  refusedCodes: Map<string, number>;
  retriedStatuses: Map<string, number>;
}

export interface SimulateIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
  /** Stops the run early (SIGINT): in-flight commands are journaled unknown. */
  interrupt?: AbortSignal;
}

function nextCommand(random: Random, byCurrency: Map<string, Account[]>, accounts: Account[]): { type: CommandType; body: Record<string, string> } {
  const roll = random.next();
  const account = random.pick(accounts);
  const peers = byCurrency.get(account.currency)!;
  if (roll < 0.4 || (roll >= 0.7 && peers.length < 2)) {
    return { type: 'Deposit', body: { accountId: account.id, amount: String(random.int(1, TRAFFIC_DEFAULTS.depositAmountMax)) } };
  }
  if (roll < 0.7) return { type: 'Withdraw', body: { accountId: account.id, amount: String(random.int(1, TRAFFIC_DEFAULTS.withdrawAmountMax)) } };
  let to = random.pick(peers);
  while (to.id === account.id) to = random.pick(peers);
  return { type: 'Transfer', body: { fromAccountId: account.id, toAccountId: to.id, amount: String(random.int(1, TRAFFIC_DEFAULTS.transferAmountMax)) } };
}

export async function simulateTraffic(args: string[], io: SimulateIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(HELP);
    return 0;
  }
  const parsed = parseArgs(args, ['--url', '--key', '--clients', '--seconds', '--journal', '--accounts', '--currencies', '--seed'], []);
  const urls = urlsFlag(parsed, '--url');
  const key = keyFlag(parsed, io.env);
  const clients = intFlag(parsed, '--clients', 1, TRAFFIC_CLIENTS_MAX);
  const seconds = intFlag(parsed, '--seconds', 1, TRAFFIC_SECONDS_MAX);
  const accountCount = intFlag(parsed, '--accounts', 1, TRAFFIC_ACCOUNTS_MAX, TRAFFIC_DEFAULTS.accounts);
  const seed = intFlag(parsed, '--seed', 0, 2 ** 32 - 1, Math.floor(Math.random() * 2 ** 32));
  const journalPath = parsed.values.get('--journal');
  if (journalPath === undefined) throw new UsageError('--journal is required (the file to write the outcomes to)');
  const currencies = (parsed.values.get('--currencies') ?? TRAFFIC_DEFAULTS.currencies.join(',')).split(',');
  if (currencies.some((c) => !CURRENCY.test(c))) throw new UsageError(`--currencies: ISO 4217 codes, comma-separated (e.g. EUR,USD), not ${parsed.values.get('--currencies')}`);

  // Reachable at all? Otherwise there is nothing to measure: exit 2 before writing a journal.
  const probe = new LedgerClient({ urls, key, attemptTimeoutMs: 5_000 });
  let reachable = false;
  for (let i = 0; i < urls.length && !reachable; i++, probe.failOver()) reachable = (await probe.send('GET', '/health')).kind === 'answer';
  if (!reachable) {
    io.err(`chronicle simulate-traffic: no ledger answers at ${urls.join(', ')}`);
    return 2;
  }

  // Unique per run, so that runs against one ledger never share an Idempotency-Key or an account.
  const runId = `sim${Date.now().toString(36)}${seed.toString(36).slice(0, 4)}`;
  const journal = new JournalWriter(journalPath);
  const startedAt = Date.now();
  journal.write({
    kind: 'start', at: new Date(startedAt).toISOString(), runId, seed, clients, seconds, accounts: accountCount, currencies, urls, keyId: keyIdOf(key),
  });
  const stats: Stats = { sent: 0, acked: 0, refused: 0, unknown: 0, attempts: 0, noAnswer: 0, refusedCodes: new Map(), retriedStatuses: new Map() };
  const gaps = new GapTracker();
  const interrupt = io.interrupt;
  const onAttempt = (answer: Answer) => {
    stats.attempts++;
    if (answer.kind === 'no_answer') stats.noAnswer++;
    else if (answer.status >= 500 || answer.status === 408 || answer.status === 429) {
      const code = `${answer.status} ${answer.body?.error?.code ?? ''}`.trim();
      stats.retriedStatuses.set(code, (stats.retriedStatuses.get(code) ?? 0) + 1);
    }
  };

  const run = async (client: number, http: LedgerClient, key: string, type: CommandType, body: Record<string, string>): Promise<Resolution> => {
    const sentAt = new Date().toISOString();
    stats.sent++;
    const resolution = await resolveCommand(http, COMMAND_PATHS[type], body, key, {
      giveUpMs: TRAFFIC_DEFAULTS.retryGiveUpMs, backoffMs: TRAFFIC_DEFAULTS.retryBackoffMs, onAttempt, ...(interrupt ? { signal: interrupt } : {}),
    });
    const ended = Date.now();
    const line: JournalCommand = {
      kind: 'command', key, client, type, path: COMMAND_PATHS[type], body, sentAt, endedAt: new Date(ended).toISOString(),
      attempts: resolution.attempts, outcome: resolution.outcome,
    };
    if (resolution.outcome === 'acknowledged') {
      stats.acked++;
      gaps.ack(ended);
      Object.assign(line, { status: resolution.status, ...resolution.receipt, replayed: resolution.replayed });
    } else if (resolution.outcome === 'refused') {
      stats.refused++;
      stats.refusedCodes.set(resolution.code, (stats.refusedCodes.get(resolution.code) ?? 0) + 1);
      Object.assign(line, { status: resolution.status, code: resolution.code });
    } else {
      stats.unknown++;
      line.error = resolution.error;
    }
    journal.write(line);
    return resolution;
  };

  const progress = setInterval(() => {
    const now = Date.now();
    const elapsedS = (now - startedAt) / 1000;
    io.err(`[${elapsedS.toFixed(0)}s] sent ${stats.sent} acked ${stats.acked} refused ${stats.refused} unknown ${stats.unknown} ` +
      `in-flight ${stats.sent - stats.acked - stats.refused - stats.unknown} acks/s ${(stats.acked / elapsedS).toFixed(1)} ` +
      `longest-gap ${gaps.longestSoFar(now)}ms`);
  }, TRAFFIC_DEFAULTS.progressIntervalMs);

  let trafficStartedAt = Date.now();
  try {
    // Accounts first, `clients` at a time; one that could not be opened takes no part.
    const wanted: Account[] = Array.from({ length: accountCount }, (_, i) => ({ id: `${runId}-a${i}`, currency: currencies[i % currencies.length]! }));
    const opened: Account[] = [];
    let nextAccount = 0;
    await Promise.all(Array.from({ length: Math.min(clients, accountCount) }, async (_, client) => {
      const http = new LedgerClient({ urls, key, attemptTimeoutMs: TRAFFIC_DEFAULTS.attemptTimeoutMs, startAt: client });
      while (nextAccount < wanted.length && !interrupt?.aborted) {
        const account = wanted[nextAccount++]!;
        const result = await run(-1, http, `${runId}-open-${account.id.slice(runId.length + 1)}`, 'CreateAccount',
          { accountId: account.id, owner: `Traffic ${account.id}`, currency: account.currency });
        if (result.outcome === 'acknowledged') opened.push(account);
      }
    }));
    if (opened.length === 0 && !interrupt?.aborted) throw new Error('no account could be opened: see the journal');
    const byCurrency = new Map<string, Account[]>();
    for (const a of opened) byCurrency.set(a.currency, [...(byCurrency.get(a.currency) ?? []), a]);

    trafficStartedAt = Date.now();
    const end = trafficStartedAt + seconds * 1000;
    await Promise.all(Array.from({ length: clients }, async (_, client) => {
      const random = seededRandom((seed ^ Math.imul(client + 1, 0x9e3779b1)) >>> 0);
      const http = new LedgerClient({ urls, key, attemptTimeoutMs: TRAFFIC_DEFAULTS.attemptTimeoutMs, startAt: client });
      for (let n = 0; Date.now() < end && !interrupt?.aborted && opened.length > 0; n++) {
        const { type, body } = nextCommand(random, byCurrency, opened);
        await run(client, http, `${runId}-c${client}-${n}`, type, body);
      }
    }));
  } finally {
    clearInterval(progress);
    const endedAt = Date.now();
    const trafficS = (endedAt - trafficStartedAt) / 1000;
    const gap = gaps.longest;
    const summary = {
      runId, seed, interrupted: interrupt?.aborted ?? false, seconds: Number(trafficS.toFixed(3)),
      commands: stats.sent, acknowledged: stats.acked, refused: stats.refused, unknown: stats.unknown,
      refusedCodes: Object.fromEntries(stats.refusedCodes), attempts: stats.attempts, noAnswer: stats.noAnswer,
      retried: Object.fromEntries(stats.retriedStatuses), acksPerSecond: Number((stats.acked / Math.max(trafficS, 0.001)).toFixed(1)),
      longestWriteGap: gap === null ? null : { ms: gap.ms, lastAckBefore: new Date(gap.from).toISOString(), firstAckAfter: new Date(gap.to).toISOString() },
    };
    journal.write({ kind: 'end', at: new Date(endedAt).toISOString(), summary });
    journal.close();
    const codes = [...stats.refusedCodes].map(([c, n]) => `${c} ${n}`).join(', ');
    const retried = [...stats.retriedStatuses].map(([c, n]) => `${c}: ${n}`).join(', ');
    io.out(`simulate-traffic ${runId} (seed ${seed}): ${clients} clients, ${accountCount} accounts (${currencies.join(', ')}), ` +
      `${trafficS.toFixed(1)} s of traffic${summary.interrupted ? ', interrupted' : ''}`);
    io.out(`commands ${stats.sent}: acknowledged ${stats.acked}, refused ${stats.refused}${codes ? ` (${codes})` : ''}, unknown ${stats.unknown}`);
    io.out(`attempts ${stats.attempts}: no answer ${stats.noAnswer}${retried ? `, retried after ${retried}` : ''}; ${summary.acksPerSecond} acks/s`);
    io.out(gap === null
      ? 'longest write gap: fewer than two acknowledgements'
      : `longest write gap ${gap.ms} ms: last ack before ${summary.longestWriteGap!.lastAckBefore}, first ack after ${summary.longestWriteGap!.firstAckAfter}`);
    io.out(`journal: ${journalPath}`);
  }
  return 0;
}
