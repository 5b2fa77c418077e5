// chronicle verify-consistency: reads a simulate-traffic journal and the ledger, and says whether everything
// holds (src/cli/traffic/check.ts decides; this file only gathers). In order:
//   1. every unknown outcome is retried with its own Idempotency-Key (the same API key must be used: keys
//      belong to the key that sent them), and what it became is recorded;
//   2. $all is read whole, from the ledger API (--url);
//   3. the query API's accounts (--query-url, else --url), once the read model has reached $all's head;
//   4. the JetStream stream (--nats), once it holds as many messages as $all has events, with an ordered consumer;
//   5. `chronicle verify`'s own check (hash chains, Merkle leaves, signed checkpoints) over the same URL.
// Exit 0: every check holds; 1: one failed; 2: bad arguments, a bad journal or no ledger answering.
// Run it once the traffic has stopped: a ledger still being written moves under the comparison.
import { readFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { connect } from '@nats-io/transport-node';
import { httpVerifySource } from '../../adapters/audit/http-verify-source.js';
import { isEd25519PublicKey, signatureVerifier } from '../../adapters/audit/signing-key.js';
import { sha256 } from '../../adapters/event-store/sql/sql-event-store.js';
import { verifyLog } from '../../application/verify-log.js';
import { CONSISTENCY_CATCH_UP_WAIT_MS, READ_PAGE_MAX, TRAFFIC_DEFAULTS } from '../../domain/limits.js';
import { keyFlag, keyIdOf, parseArgs, urlsFlag, UsageError } from './args.js';
import { checkConsistency, formatVerdict, type BusMessage, type CheckedCommand, type CheckInput, type LogEvent, type ReadModelAccount } from './check.js';
import { parseJournal } from './journal.js';
import { LedgerClient, NoAnswerError, resolveCommand } from './ledger-client.js';

export const VERIFY_CONSISTENCY_USAGE = `chronicle verify-consistency --url <API>[,<API>…] --key <admin key> --journal <file>
                 [--query-url <query API>[,…]] [--nats <nats://…>[,…]] [--stream <name>] [--json]`;

const HELP = `usage: ${VERIFY_CONSISTENCY_USAGE}

Checks a simulate-traffic journal against the ledger: every acknowledged command is in $all exactly once;
every unknown outcome is retried with its key and reported as what it became; no refused command has an
event; money is conserved per currency, no balance is ever negative, every balanceAfter is the fold of its
history; the query API's balances and versions equal the fold of $all (--query-url when queries are served
elsewhere); the JetStream stream (--nats, --stream, default chronicle-events) holds every event once, in
$all order; and \`chronicle verify\` passes. Use the API key simulate-traffic used (or CHRONICLE_KEY).
Exit 0: everything holds; 1: something does not (named); 2: bad arguments or no ledger answering.`;

export interface VerifyConsistencyIo {
  out: (line: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

/** Why gathering could not even start: exit 2. */
class Unreachable extends Error {}

async function readAll(client: LedgerClient): Promise<LogEvent[]> {
  const events: LogEvent[] = [];
  for (let from = 0; ;) {
    const { status, body } = await client.read(`/streams/$all?from=${from}&count=${READ_PAGE_MAX}`, TRAFFIC_DEFAULTS.retryGiveUpMs, TRAFFIC_DEFAULTS.retryBackoffMs);
    if (status !== 200) throw new Unreachable(`GET /streams/$all: ${status} ${JSON.stringify(body).slice(0, 300)}`);
    const page = body as { events: LogEvent[]; lastPosition: number };
    events.push(...page.events);
    if (page.events.length === 0) return events;
    from = page.lastPosition;
  }
}

/** Every account of the read model, once it has applied `head` (bounded wait). */
async function readModel(client: LedgerClient, head: number): Promise<ReadModelAccount[] | string> {
  const end = Date.now() + CONSISTENCY_CATCH_UP_WAIT_MS;
  for (;;) {
    const accounts: ReadModelAccount[] = [];
    let stale = false;
    for (let after: string | null = ''; after !== null;) {
      const wait = head > 0 ? `&minPosition=${head}` : '';
      const { status, body } = await client.read(`/accounts?limit=${READ_PAGE_MAX}${after ? `&after=${encodeURIComponent(after)}` : ''}${wait}`,
        TRAFFIC_DEFAULTS.retryGiveUpMs, TRAFFIC_DEFAULTS.retryBackoffMs);
      if (status !== 200) return `GET /accounts: ${status} ${JSON.stringify(body).slice(0, 300)}`;
      const page = body as { accounts: ReadModelAccount[]; nextAfter: string | null; freshness: { status: string; position: number } };
      if (head > 0 && page.freshness.status !== 'reached') stale = true;
      accounts.push(...page.accounts);
      after = page.nextAfter;
    }
    if (!stale) return accounts;
    if (Date.now() > end) return `the read model did not reach position ${head} within ${CONSISTENCY_CATCH_UP_WAIT_MS} ms`;
  }
}

/** Every message of the stream, once it holds at least `expected` (bounded wait), with an ordered consumer. */
async function readBus(servers: string[], stream: string, expected: number): Promise<{ stream: string; messages: BusMessage[] } | string> {
  let nc;
  try {
    nc = await connect({ servers, timeout: 5_000 });
  } catch (error) {
    return `cannot connect to ${servers.join(', ')}: ${(error as Error).message}`;
  }
  try {
    const jsm = await jetstreamManager(nc);
    const end = Date.now() + CONSISTENCY_CATCH_UP_WAIT_MS;
    let info = await jsm.streams.info(stream);
    while (info.state.messages < expected && Date.now() < end) {
      await sleep(200);
      info = await jsm.streams.info(stream);
    }
    const messages: BusMessage[] = [];
    if (info.state.messages === 0) return { stream, messages };
    const lastSeq = info.state.last_seq;
    const consumer = await jetstream(nc).consumers.get(stream);
    const iterator = await consumer.consume();
    for await (const m of iterator) {
      let eventId: string | undefined;
      try {
        const parsed = m.json<{ eventId?: unknown }>();
        eventId = typeof parsed.eventId === 'string' ? parsed.eventId : undefined;
      } catch { /* not JSON: not an event */ }
      messages.push({ seq: m.seq, msgId: m.headers?.get('Nats-Msg-Id') || undefined, eventId });
      if (m.seq >= lastSeq) break;
    }
    await iterator.close();
    return { stream, messages };
  } catch (error) {
    return (error as Error).message;
  } finally {
    await nc.close().catch(() => {});
  }
}

/** `chronicle verify` over the ledger's URL, with the public key the ledger serves. */
async function audit(url: string, key: string): Promise<CheckInput['audit']> {
  try {
    const headers = { authorization: `Bearer ${key}` };
    const response = await fetch(new URL('/audit/public-key', url), { headers });
    if (!response.ok) return `GET /audit/public-key: ${response.status}`;
    const { publicKey } = (await response.json()) as { publicKey: string };
    if (!isEd25519PublicKey(publicKey)) return 'the ledger serves no Ed25519 public key';
    const report = await verifyLog(httpVerifySource(url, headers), sha256, signatureVerifier(publicKey));
    const findings = report.findings.filter((f) => f.kind !== 'unchained').map((f) => `${f.kind}: ${f.message}`);
    return {
      ok: report.ok,
      summary: `events ${report.events} in ${report.streams} streams; leaves ${report.leaves}; checkpoints ${report.checkpoints}${report.latest ? `, latest of size ${report.latest.treeSize}` : ''} (public key from the ledger)`,
      findings,
    };
  } catch (error) {
    return (error as Error).message;
  }
}

export async function verifyConsistency(args: string[], io: VerifyConsistencyIo): Promise<number> {
  if (args.includes('--help') || args.includes('-h')) {
    io.out(HELP);
    return 0;
  }
  const parsed = parseArgs(args, ['--url', '--query-url', '--key', '--journal', '--nats', '--stream'], ['--json']);
  const urls = urlsFlag(parsed, '--url');
  const queryUrls = urlsFlag(parsed, '--query-url', urls);
  const key = keyFlag(parsed, io.env);
  const journalPath = parsed.values.get('--journal');
  if (journalPath === undefined) throw new UsageError('--journal is required (the file simulate-traffic wrote)');
  const nats = parsed.values.get('--nats')?.split(',').map((s) => s.trim()).filter((s) => s !== '');
  const stream = parsed.values.get('--stream') ?? 'chronicle-events';
  const json = parsed.switches.has('--json');

  let text: string;
  try {
    text = await readFile(journalPath, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read the journal ${journalPath}: ${(error as Error).message}`);
  }
  let journal;
  try {
    journal = parseJournal(text);
  } catch (error) {
    throw new UsageError(`${journalPath}: ${(error as Error).message}`);
  }
  const notes: string[] = [];
  if (journal.start?.keyId && journal.start.keyId !== keyIdOf(key)) {
    notes.push(`note: the journal was written with API key ${journal.start.keyId}, this is ${keyIdOf(key) ?? 'another'}: retries of unknown outcomes run as new commands`);
  }

  const client = new LedgerClient({ urls, key, attemptTimeoutMs: TRAFFIC_DEFAULTS.attemptTimeoutMs });
  const queries = new LedgerClient({ urls: queryUrls, key, attemptTimeoutMs: TRAFFIC_DEFAULTS.attemptTimeoutMs });
  // Anyone there? Otherwise exit 2 at once rather than after every read's retries.
  let reachable = false;
  for (let i = 0; i < urls.length && !reachable; i++, client.failOver()) reachable = (await client.send('GET', '/health')).kind === 'answer';
  if (!reachable) {
    io.err(`chronicle verify-consistency: no ledger answers at ${urls.join(', ')}`);
    return 2;
  }
  try {
    // 1. Unknown outcomes: retried with the same key until definite; the answer is their final outcome.
    const commands: CheckedCommand[] = [];
    for (const c of journal.commands) {
      if (c.outcome !== 'unknown') {
        commands.push(c);
        continue;
      }
      const r = await resolveCommand(client, c.path, c.body, c.key, { giveUpMs: TRAFFIC_DEFAULTS.retryGiveUpMs, backoffMs: TRAFFIC_DEFAULTS.retryBackoffMs });
      if (r.outcome === 'acknowledged') {
        commands.push({ ...c, outcome: 'acknowledged', status: r.status, ...r.receipt, retry: { became: r.replayed ? 'applied_before' : 'applied_by_retry' } });
      } else if (r.outcome === 'refused') {
        commands.push({ ...c, outcome: 'refused', status: r.status, code: r.code, retry: { became: 'refused', code: r.code } });
      } else commands.push({ ...c, retry: { became: 'unresolved', error: r.error } });
    }
    // 2-5.
    const events = await readAll(client);
    const head = events.at(-1)?.globalPosition ?? 0;
    const [model, bus, auditResult] = await Promise.all([
      readModel(queries, head),
      nats === undefined || nats.length === 0 ? Promise.resolve(null) : readBus(nats, stream, events.length),
      audit(client.url, key),
    ]);
    const verdict = checkConsistency({
      runId: journal.start?.runId ?? null, journalComplete: journal.end !== null, commands, events, readModel: model, bus, audit: auditResult,
    });
    const retried = commands.filter((c) => c.retry !== undefined).map((c) => ({ key: c.key, type: c.type, became: c.retry!.became, ...(c.retry!.code ? { code: c.retry!.code } : {}) }));
    if (json) io.out(JSON.stringify({ ok: verdict.ok, journal: journalPath, commands: commands.length, events: events.length, retried, checks: verdict.checks, notes }, null, 2));
    else {
      for (const n of notes) io.out(n);
      io.out(`journal ${journalPath}: ${commands.length} commands${journal.end ? '' : ' (no end line: the run did not finish)'}; ledger ${urls.join(', ')}: ${events.length} events`);
      for (const r of retried) io.out(`retried ${r.key} (${r.type}): ${r.became}${r.code ? ` ${r.code}` : ''}`);
      for (const line of formatVerdict(verdict)) io.out(line);
    }
    return verdict.ok ? 0 : 1;
  } catch (error) {
    if (!(error instanceof Unreachable || error instanceof NoAnswerError)) throw error;
    io.err(`chronicle verify-consistency: ${error.message}`);
    return 2;
  }
}
