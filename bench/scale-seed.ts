// Pre-seeds a fresh ledger store on PostgreSQL with N account events, fast, for bench/scale-bench.ts.
//
// The store must be one the ledger accepts exactly as if it had written it, so every row is what the write
// path would have stored (src/adapters/event-store/sql/migrations/*.sql, fast-append.sql):
// - the schema is the ledger's own: the migrations run through migrate(), as `chronicle start` runs them;
// - events are account events (src/domain/account/events.ts) of a replayed command mix: AccountCreated for
//   every account first, then deposits, withdrawals (only with the money there) and transfers (two events,
//   one per stream, written in stream-id order as chronicle_append and the fast append write them, with one
//   recordedAt), each carrying its balanceAfter; no balance ever goes negative;
// - each event's content hash is chronicle-content-v1 (the project's contentHash) and its link
//   SHA-256(prevHash || contentHash) (the project's linkHash), chained per stream from 64 zeros;
//   streams.last_hash is the last link; `chronicle verify` recomputes all of them from the stored rows;
// - global positions are dense 1..N in the order written and recorded_at rises with them (1 ms a command,
//   ending a minute before the seed runs), so `?at=` and `$all` see the same history the ledger would have;
// - event_log_head.position = N (its trigger lets it only move forward; legacy_through stays 0);
// - a snapshot at every SNAPSHOT_EVERY_EVENTS_DEFAULT-th version of a stream, as the command path saves them;
// - no Merkle leaves, checkpoints, relay checkpoint or read model: the started ledger seals and projects the
//   seeded events itself (scale-bench.ts waits for both and reports how long they took).
// The append-only triggers refuse UPDATE/DELETE on events; rows are only ever inserted. Streams rows are
// inserted (version 1) before their first event (the foreign key) and set to their final version, time and
// last link at the end, as appends update them.
//
// How: rows are generated in this process and sent with COPY ... FROM STDIN (scale-copy.ts), batchEvents
// rows a statement, the next batch generated while the previous one is in flight (one connection, so the
// database and this process each keep about one core busy). The project's contentHash validates every field
// and took 22 µs an event, linkHash 6 µs (hex parsing): more than the database's share. So the content hash
// is SHA-256 of the content document written by JSON.stringify with its members already in sorted order
// (exactly RFC 8785's bytes for these plain-ASCII strings), checked against contentHash every CHECK_EVERY-th
// event, and the link is SHA-256 over the raw 32 + 32 bytes, checked against linkHash once a batch; the seed
// stops at the first difference. The events table's indexes
// and constraints (primary key, the two unique keys, the time index, the foreign key) are dropped for the
// load and recreated from their own definitions afterwards (a sort each instead of N random B-tree inserts
// and N foreign-key look-ups); the definitions are read back and compared, and the seed fails if any differs.
import { createHash, randomUUID } from 'node:crypto';
import pg from 'pg';
import { CONTENT_ENCODING_ID, contentHash, GENESIS_PREV_HASH, linkHash } from '../src/domain/audit/canonical.js';
import { ACCOUNT_AGGREGATE, ACCOUNT_EVENT_SCHEMA_VERSION, accountStreamId, type AccountEventType } from '../src/domain/account/events.js';
import { ACCOUNT_SNAPSHOT_SCHEMA_VERSION, encodeAccountState } from '../src/domain/account/state.js';
import { SNAPSHOT_EVERY_EVENTS_DEFAULT } from '../src/domain/limits.js';
import type { CurrencyCode } from '../src/domain/currency.js';
import { sha256 } from '../src/adapters/event-store/sql/sql-event-store.js';
import { seededRandom, type SeededRandom } from '../src/lib/seeded-random.js';
import { copyBytea, copyIn, copyText } from './scale-copy.js';

export interface SeedPlan {
  /** Events in the store when done (N). */
  events: number;
  /** Accounts, the hot one included (each has an AccountCreated among the N events). */
  accounts: number;
  /** Events of the one "hot" account (time travel over a long stream), its AccountCreated included. */
  hotEvents: number;
  /** Events per INSERT statement. */
  batchEvents: number;
  seed: number;
}

export interface SeedResult {
  events: number;
  accounts: number;
  hotAccountId: string;
  /** recordedAt of the hot account's first and last events (time travel asks between them). */
  hotFirstAt: string;
  hotLastAt: string;
  /** Some ordinary account, for commands that touch an existing stream. */
  accountIds: string[];
  snapshots: number;
  /** Generation, COPY, index rebuild and final stream updates; vacuumSeconds apart. */
  seconds: number;
  /** Of which the index and constraint rebuild. */
  indexSeconds: number;
  eventsPerSecond: number;
  vacuumSeconds: number;
  /** Sum of all balances (minor units) per currency: what a rebuilt read model must hold. */
  totals: Record<string, string>;
}

export const HOT_ACCOUNT_ID = 'scale-hot';
const CURRENCIES = ['EUR', 'USD'] as const;
const CREATED_BY = 'scale-seed';
const CLIENT_ADDRESS = '127.0.0.1';
/** Time between two commands' recordedAt, µs. */
const COMMAND_STEP_US = 1_000;
const AMOUNT_MAX = 1_000;
const GENESIS_LINK = Buffer.from(GENESIS_PREV_HASH, 'hex');
/** Every this many events, the content hash is recomputed with the project's contentHash. */
const CHECK_EVERY = 97;

interface Account { id: string; streamId: string; owner: string; currency: string; balance: number; version: number; lastHash: string; lastLink: Buffer; lastAt: string }

/** One batch's rows, as COPY text lines. */
class EventBatch {
  events: string[] = [];
  newStreams: string[] = [];
  snapshots: string[] = [];
  /** One link of the batch, recomputed with the project's linkHash before the batch is sent. */
  check: { prev: string; content: string; link: string } | undefined;
  get size(): number {
    return this.events.length;
  }
}

const COPY_STREAMS = 'streams (stream_id, aggregate_type, version, created_at, updated_at)';
const COPY_EVENTS = `events (global_position, event_id, stream_id, stream_version, aggregate_type, event_type, event_data,
  event_schema_version, recorded_at, created_by, metadata, prev_hash, content_hash, event_hash)`;
const COPY_SNAPSHOTS = 'snapshots (stream_id, version, schema_version, state)';

const UPDATE_STREAMS = `
UPDATE streams SET version = u.v, updated_at = u.t, last_hash = decode(u.h, 'hex')
  FROM unnest($1::text[], $2::bigint[], $3::timestamptz[], $4::text[]) AS u(s, v, t, h)
 WHERE streams.stream_id = u.s`;

/** YYYY-MM-DDTHH:MM:SS.ffffffZ of a time in µs since the epoch (the store's precision). */
function utcMicros(us: number): string {
  const ms = Math.floor(us / 1000);
  const micros = String(us - ms * 1000).padStart(3, '0');
  return `${new Date(ms).toISOString().slice(0, -1)}${micros}Z`;
}

/** Replays a command mix over the accounts, appending each resulting event to the current batch. */
class Generator {
  readonly accounts: Account[] = [];
  /** Ordinary accounts by currency, for transfers (the hot one is left out). */
  private readonly byCurrency: number[][] = CURRENCIES.map(() => []);
  private position = 0;
  private nowUs: number;
  batch = new EventBatch();
  snapshots = 0;

  constructor(private readonly random: SeededRandom, startUs: number) {
    this.nowUs = startUs;
  }

  get written(): number {
    return this.position;
  }

  /** One command's time: every event it writes shares it, as one append's events do. */
  private tick(): string {
    this.nowUs += COMMAND_STEP_US;
    return utcMicros(this.nowUs);
  }

  openAccount(index: number): void {
    const at = this.tick();
    const id = index === 0 ? HOT_ACCOUNT_ID : `scale-${String(index).padStart(8, '0')}`;
    const currency = CURRENCIES[index % CURRENCIES.length]!;
    const account: Account = { id, streamId: accountStreamId(id), owner: `Scale Owner ${index}`, currency, balance: 0, version: 0, lastHash: GENESIS_PREV_HASH, lastLink: GENESIS_LINK, lastAt: at };
    this.accounts.push(account);
    if (index > 0) this.byCurrency[index % CURRENCIES.length]!.push(index);
    // Version 1 until the end (the foreign key wants the row before the first event).
    this.batch.newStreams.push(`${copyText(account.streamId)}\t${ACCOUNT_AGGREGATE}\t1\t${at}\t${at}`);
    this.append(account, 'AccountCreated', { accountId: id, currency, owner: account.owner }, 'CreateAccount', at, randomUUID(), randomUUID());
  }

  /** A deposit, or a withdrawal when the account holds the amount (never negative). */
  depositOrWithdraw(account: Account): void {
    const amount = this.random.int(1, AMOUNT_MAX);
    const withdraw = account.balance >= amount && this.random.next() < 0.45;
    account.balance += withdraw ? -amount : amount;
    this.append(account, withdraw ? 'MoneyWithdrawn' : 'MoneyDeposited', this.moved(account, amount), withdraw ? 'Withdraw' : 'Deposit', this.tick(), randomUUID(), randomUUID());
  }

  /** A transfer between two ordinary accounts of one currency, or a deposit when `from` cannot pay. */
  transferOrDeposit(fromIndex: number): void {
    const from = this.accounts[fromIndex]!;
    const group = this.byCurrency[fromIndex % CURRENCIES.length]!;
    const amount = this.random.int(1, AMOUNT_MAX);
    if (group.length < 2 || from.balance < amount) return this.depositOrWithdraw(from);
    let toIndex = this.random.pick(group);
    while (toIndex === fromIndex) toIndex = this.random.pick(group);
    const to = this.accounts[toIndex]!;
    from.balance -= amount;
    to.balance += amount;
    const at = this.tick();
    const transferId = randomUUID();
    const commandId = randomUUID();
    const correlationId = randomUUID();
    const sent = () => this.append(from, 'TransferSent', { ...this.moved(from, amount), toAccountId: to.id, transferId }, 'Transfer', at, commandId, correlationId);
    const received = () => this.append(to, 'TransferReceived', { ...this.moved(to, amount), fromAccountId: from.id, transferId }, 'Transfer', at, commandId, correlationId);
    // One append writes its streams in stream-id order (byte order, COLLATE "C").
    if (from.streamId < to.streamId) { sent(); received(); } else { received(); sent(); }
  }

  /** Members in sorted order (see append). */
  private moved(account: Account, amount: number): Record<string, unknown> {
    return { accountId: account.id, amount: String(amount), balanceAfter: String(account.balance), currency: account.currency };
  }

  /**
   * Appends one event to the batch. Every object here (data, metadata, the content document) is built with
   * its members in sorted order and holds only plain ASCII strings and one small integer, so JSON.stringify
   * writes exactly RFC 8785's bytes and the content hash is SHA-256 of that text. The project's contentHash
   * is slower (it validates every field); it recomputes the hash of every CHECK_EVERY-th event and the seed
   * stops if one differs. `chronicle verify` recomputes all of them from the stored rows afterwards.
   */
  private append(account: Account, type: AccountEventType, data: Record<string, unknown>, commandType: string, at: string, causationId: string, correlationId: string): void {
    const eventId = randomUUID();
    const metadata = { causationId, clientAddress: CLIENT_ADDRESS, commandType, correlationId };
    const dataJson = JSON.stringify(data);
    const metadataJson = JSON.stringify(metadata);
    const contentJson = `{"aggregateType":"${ACCOUNT_AGGREGATE}","createdBy":"${CREATED_BY}","data":${dataJson},"encoding":"${CONTENT_ENCODING_ID}",`
      + `"eventId":"${eventId}","metadata":${metadataJson},"schemaVersion":${ACCOUNT_EVENT_SCHEMA_VERSION},"streamId":${JSON.stringify(account.streamId)},"type":"${type}"}`;
    const contentBytes = createHash('sha256').update(contentJson).digest();
    const content = contentBytes.toString('hex');
    if (this.position % CHECK_EVERY === 0) {
      const expected = contentHash(sha256, {
        eventId, streamId: account.streamId, aggregateType: ACCOUNT_AGGREGATE, type, schemaVersion: ACCOUNT_EVENT_SCHEMA_VERSION, data, metadata, createdBy: CREATED_BY,
      });
      if (expected !== content) throw new Error(`seed: content hash of ${eventId} differs from contentHash (${content} against ${expected})`);
    }
    // SHA-256(prevHash || contentHash) over the raw bytes: linkHash's definition, without its hex parsing.
    const linkBytes = createHash('sha256').update(account.lastLink).update(contentBytes).digest();
    const link = linkBytes.toString('hex');
    const b = this.batch;
    b.check ??= { prev: account.lastHash, content, link };
    const version = ++account.version;
    b.events.push([
      ++this.position, eventId, copyText(account.streamId), version, ACCOUNT_AGGREGATE, type, copyText(dataJson),
      ACCOUNT_EVENT_SCHEMA_VERSION, at, CREATED_BY, copyText(metadataJson), copyBytea(account.lastHash), copyBytea(content), copyBytea(link),
    ].join('\t'));
    account.lastHash = link;
    account.lastLink = linkBytes;
    account.lastAt = at;
    if (version % SNAPSHOT_EVERY_EVENTS_DEFAULT === 0) {
      const state = encodeAccountState({ status: 'open', accountId: account.id, owner: account.owner, currency: account.currency as CurrencyCode, balance: BigInt(account.balance) });
      b.snapshots.push(`${copyText(account.streamId)}\t${version}\t${ACCOUNT_SNAPSHOT_SCHEMA_VERSION}\t${copyText(JSON.stringify(state))}`);
      this.snapshots++;
    }
  }

  takeBatch(): EventBatch {
    const full = this.batch;
    this.batch = new EventBatch();
    return full;
  }
}

async function insertBatch(db: pg.Client, b: EventBatch): Promise<void> {
  if (b.check && linkHash(sha256, b.check.prev, b.check.content) !== b.check.link) throw new Error('seed: a chain link differs from linkHash');
  if (b.newStreams.length > 0) await copyIn(db, COPY_STREAMS, b.newStreams);
  if (b.size > 0) await copyIn(db, COPY_EVENTS, b.events);
  if (b.snapshots.length > 0) await copyIn(db, COPY_SNAPSHOTS, b.snapshots);
}

interface Definitions { constraints: { name: string; type: string; def: string }[]; indexes: { name: string; def: string }[] }

/** The events table's constraints (primary, unique, foreign) and its other indexes, as PostgreSQL prints them. */
async function eventsDefinitions(db: pg.Client): Promise<Definitions> {
  const constraints = (await db.query<{ name: string; type: string; def: string }>(
    `SELECT conname AS name, contype AS type, pg_get_constraintdef(oid) AS def FROM pg_constraint
      WHERE conrelid = 'events'::regclass AND contype IN ('p', 'u', 'f') ORDER BY conname`)).rows;
  const indexes = (await db.query<{ name: string; def: string }>(
    `SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'events'
        AND indexname NOT IN (SELECT conname FROM pg_constraint WHERE conrelid = 'events'::regclass) ORDER BY indexname`)).rows;
  return { constraints, indexes };
}

/** Drops them (foreign key first); returns what restores them, which checks that the schema is as before. */
async function dropEventsIndexes(db: pg.Client): Promise<() => Promise<void>> {
  const before = await eventsDefinitions(db);
  const byType = (type: string) => before.constraints.filter((c) => c.type === type);
  for (const c of [...byType('f'), ...byType('u'), ...byType('p')]) await db.query(`ALTER TABLE events DROP CONSTRAINT ${c.name}`);
  for (const i of before.indexes) await db.query(`DROP INDEX ${i.name}`);
  return async () => {
    for (const c of [...byType('p'), ...byType('u')]) await db.query(`ALTER TABLE events ADD CONSTRAINT ${c.name} ${c.def}`);
    for (const i of before.indexes) await db.query(i.def);
    for (const c of byType('f')) await db.query(`ALTER TABLE events ADD CONSTRAINT ${c.name} ${c.def}`);
    const after = await eventsDefinitions(db);
    if (JSON.stringify(after) !== JSON.stringify(before)) {
      throw new Error(`seed: the events table's indexes differ from before the load: ${JSON.stringify(before)} / ${JSON.stringify(after)}`);
    }
  };
}

/** Checks the plan against itself: what it asks must fit in `events`. */
export function checkPlan(plan: SeedPlan): void {
  if (plan.accounts < 1 || plan.hotEvents < 1) throw new Error('a seed needs at least one account and one hot event');
  if (plan.accounts + plan.hotEvents - 1 > plan.events) {
    throw new Error(`${plan.events} events cannot hold ${plan.accounts} AccountCreated and ${plan.hotEvents} hot-account events`);
  }
}

/**
 * Seeds `plan.events` events into the migrated, empty store that `db` is connected to. `log` gets progress
 * lines (every 10 %).
 */
export async function seedStore(db: pg.Client, plan: SeedPlan, log: (line: string) => void): Promise<SeedResult> {
  checkPlan(plan);
  const started = performance.now();
  const random = seededRandom(plan.seed);
  // Ends a minute before now: commands issued by the bench come after every seeded event.
  const startUs = (Date.now() - 60_000) * 1000 - plan.events * COMMAND_STEP_US;
  const gen = new Generator(random, startUs);
  // This session only: the load's commits need not wait for the WAL flush, index builds may sort in memory.
  await db.query('SET synchronous_commit = off');
  await db.query(`SET maintenance_work_mem = '256MB'`);
  const restoreIndexes = await dropEventsIndexes(db);
  let inFlight: Promise<void> = Promise.resolve();
  let nextReport = plan.events / 10;
  const flushIfFull = async (force = false) => {
    if (!force && gen.batch.size < plan.batchEvents) return;
    await inFlight; // at most one statement in flight: generate the next batch meanwhile
    const batch = gen.takeBatch();
    inFlight = insertBatch(db, batch);
    inFlight.catch(() => undefined); // awaited below; this only keeps an early failure from being unhandled
    if (gen.written >= nextReport && gen.written < plan.events) {
      log(`  seed: ${Math.round((100 * gen.written) / plan.events)} % (${gen.written} events, ${Math.round(gen.written / ((performance.now() - started) / 1000))} events/s)`);
      nextReport += plan.events / 10;
    }
  };

  for (let i = 0; i < plan.accounts; i++) {
    gen.openAccount(i);
    await flushIfFull();
  }
  const hot = gen.accounts[0]!;
  const hotFirstAt = hot.lastAt;
  const ordinary = plan.accounts - 1;
  while (gen.written < plan.events) {
    const left = plan.events - gen.written;
    const hotLeft = plan.hotEvents - hot.version;
    // The hot account's events spread evenly over the rest of the history (and fill it if nothing else can).
    if (hotLeft > 0 && (ordinary === 0 || random.next() * left < hotLeft)) {
      gen.depositOrWithdraw(hot);
    } else {
      const index = 1 + random.int(0, ordinary - 1);
      // A transfer writes two events: only when two are left beyond what the hot account still needs.
      if (left - hotLeft >= 2 && random.next() < 0.3) gen.transferOrDeposit(index);
      else gen.depositOrWithdraw(gen.accounts[index]!);
    }
    await flushIfFull();
  }
  await flushIfFull(true);
  await inFlight;
  const loadedAt = performance.now();
  await restoreIndexes();
  const indexSeconds = (performance.now() - loadedAt) / 1000;
  log(`  seed: ${gen.written} events loaded in ${((loadedAt - started) / 1000).toFixed(1)} s, indexes rebuilt in ${indexSeconds.toFixed(1)} s`);

  // Streams as the appends left them: version, time and last link.
  for (let i = 0; i < gen.accounts.length; i += 10_000) {
    const slice = gen.accounts.slice(i, i + 10_000);
    await db.query(UPDATE_STREAMS, [slice.map((a) => a.streamId), slice.map((a) => a.version), slice.map((a) => a.lastAt), slice.map((a) => a.lastHash)]);
  }
  await db.query('UPDATE event_log_head SET position = $1 WHERE singleton', [gen.written]);
  const seconds = (performance.now() - started) / 1000;

  // Statistics and the visibility map, as autovacuum would have left a store that grew over time.
  const vacuumStarted = performance.now();
  await db.query('VACUUM (ANALYZE) events, streams, snapshots');
  const vacuumSeconds = (performance.now() - vacuumStarted) / 1000;

  const totals: Record<string, bigint> = {};
  for (const a of gen.accounts) totals[a.currency] = (totals[a.currency] ?? 0n) + BigInt(a.balance);
  return {
    events: gen.written,
    accounts: gen.accounts.length,
    hotAccountId: hot.id,
    hotFirstAt,
    hotLastAt: hot.lastAt,
    accountIds: gen.accounts.slice(1, 1_001).map((a) => a.id),
    snapshots: gen.snapshots,
    seconds,
    indexSeconds,
    eventsPerSecond: Math.round(gen.written / seconds),
    vacuumSeconds,
    totals: Object.fromEntries(Object.entries(totals).map(([c, v]) => [c, v.toString()])),
  };
}
