// API keys: their format, their hash, and verifying a presented key on every request without a query.
//
// A key is `chr_<id>_<secret>`: `id` is 16 hex digits (public, the row to look up, and the principal's
// name), `secret` 43 base64url characters (256 random bits). Only SHA-256(key) is stored. A slow password
// hash (bcrypt, scrypt, argon2) exists to make guessing a low-entropy password from its hash expensive;
// 2^256 equally likely secrets cannot be guessed whatever the hash costs, so a fast hash loses nothing,
// and verification costs a microsecond instead of tens of milliseconds per request. The hash is compared
// with timingSafeEqual, and the lookup is by the public id, so no timing depends on the secret.
//
// Verified keys are cached in memory for cacheTtlMs (default KEY_CACHE_TTL_MS): a request then costs one
// Map lookup and one SHA-256, no query. A revocation by another process (or by the CLI) therefore takes
// effect here within cacheTtlMs; one made through this object takes effect at once.
//
// Ids that are unknown (or revoked) are remembered too, apart, for at most cacheTtlMs and at most
// KEY_NEGATIVE_CACHE_ENTRIES_MAX of them: a client repeating an unknown key costs one query per TTL, and a
// flood of random ids cannot push the valid keys out of their cache. What that can shadow: a key created
// under an id someone presented just before (only a chosen key, CHRONICLE_BOOTSTRAP_KEY, can have a known
// id) is refused for at most cacheTtlMs, then works; one created through this object works at once. A
// negative entry never makes a key valid. Floods of distinct random ids are bounded by the failed
// authentications allowed per client address (src/http/access-control.ts), not by this cache.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  API_KEY_SECRET_DISTINCT_CHARACTERS_MIN, KEY_CACHE_ENTRIES_MAX, KEY_CACHE_TTL_MS, KEY_NEGATIVE_CACHE_ENTRIES_MAX, KEYS_LIST_MAX,
} from '../domain/limits.js';
import type { ApiKeyRecord, ApiKeyStore, KeyRole } from '../ports/api-key-store.js';

const KEY = /^chr_([0-9a-f]{16})_([A-Za-z0-9_-]{43,128})$/;

/** Who made a request: written as created_by of the events it appends. Stable and not secret. */
export interface Principal {
  /** `key:<id>` */
  readonly id: string;
  readonly keyId: string;
  readonly name: string;
  readonly role: KeyRole;
}

/** A key as shown to people: everything but its hash. */
export type ApiKeyInfo = Omit<ApiKeyRecord, 'keyHash'>;

export const principalOf = (record: Pick<ApiKeyRecord, 'id' | 'name' | 'role'>): Principal =>
  Object.freeze({ id: `key:${record.id}`, keyId: record.id, name: record.name, role: record.role });

export const infoOf = ({ keyHash: _, ...info }: ApiKeyRecord): ApiKeyInfo => info;

export const hashApiKey = (key: string): string => createHash('sha256').update(key).digest('hex');

/** A new random key and its id. */
export function generateApiKey(): { id: string; key: string } {
  const id = randomBytes(8).toString('hex');
  return { id, key: `chr_${id}_${randomBytes(32).toString('base64url')}` };
}

/** The id of a well-formed key; null for anything else. */
export function keyIdOf(key: string): string | null {
  return KEY.exec(key)?.[1] ?? null;
}

/** Why a key chosen by an operator (CHRONICLE_BOOTSTRAP_KEY) is unfit, or null when it is fit. */
export function chosenKeyProblem(key: string): string | null {
  const match = KEY.exec(key);
  if (!match) return 'must be chr_<16 hex digits>_<43 to 128 characters of A-Z a-z 0-9 _ -> (e.g. from `chronicle keys generate`)';
  if (new Set(match[2]).size < API_KEY_SECRET_DISTINCT_CHARACTERS_MIN) return 'its secret part does not look random: generate one with `chronicle keys generate`';
  return null;
}

interface CacheEntry {
  expiresAtMs: number;
  principal: Principal;
  hash: Buffer;
}

export type BootstrapOutcome =
  | { kind: 'stored'; id: string }
  | { kind: 'generated'; id: string; key: string }
  /** Keys existed already: nothing stored. `known`: the chosen key is one of them (a restart). */
  | { kind: 'existing'; known: boolean };

export interface ApiKeysOptions {
  cacheTtlMs?: number;
  now?: () => number;
}

export class ApiKeys {
  private readonly cache = new Map<string, CacheEntry>();
  /** Unknown or revoked ids: when each entry expires. */
  private readonly unknown = new Map<string, number>();
  private readonly loading = new Map<string, Promise<void>>();
  /** How long a verified key is trusted without asking the store: the revocation latency across processes. */
  readonly cacheTtlMs: number;
  private readonly now: () => number;
  /** Bumped by every revocation here, so a lookup that began before it cannot cache the key as valid. */
  private revocations = 0;
  private readonly revokedListeners = new Set<(id: string) => void>();

  constructor(private readonly store: ApiKeyStore, options: ApiKeysOptions = {}) {
    this.cacheTtlMs = options.cacheTtlMs ?? KEY_CACHE_TTL_MS;
    this.now = options.now ?? Date.now;
  }

  /**
   * The principal of a presented key from the cache: null when the key is malformed, unknown or revoked,
   * undefined when the cache cannot say (then `authenticate`). The hot path: no promise, no query.
   */
  cached(key: string): Principal | null | undefined {
    const id = keyIdOf(key);
    if (id === null) return null;
    const nowMs = this.now();
    const entry = this.cache.get(id);
    if (entry !== undefined && entry.expiresAtMs > nowMs) return verify(entry, key);
    const unknownUntilMs = this.unknown.get(id);
    if (unknownUntilMs !== undefined && unknownUntilMs > nowMs) return null;
    return undefined;
  }

  /**
   * Whether `key` was valid when last looked up (its cache entry may have expired): asking again is then
   * a refresh, not a guess, and is never refused for the address's failed authentications.
   */
  wasValid(key: string): boolean {
    const id = keyIdOf(key);
    const entry = id === null ? undefined : this.cache.get(id);
    return entry !== undefined && verify(entry, key) !== null;
  }

  /** The principal of a presented key, reading the store when the cache cannot say. */
  async authenticate(key: string): Promise<Principal | null> {
    const cached = this.cached(key);
    if (cached !== undefined) return cached;
    const id = keyIdOf(key)!;
    await this.loadShared(id);
    const entry = this.cache.get(id);
    return entry === undefined ? null : verify(entry, key);
  }

  /**
   * Whether the key `id` is still valid (stored and not revoked), from a cache entry at most `maxAgeMs` old,
   * else from the store. For what outlives its request (a subscription): it re-checks its key with this, so
   * a revocation by another process ends it within `maxAgeMs` plus the caller's check interval. Undecided (a
   * revocation here raced the lookup): true, and the next check decides.
   */
  async stillValid(id: string, maxAgeMs: number = this.cacheTtlMs): Promise<boolean> {
    const entry = this.cache.get(id);
    if (entry === undefined || this.now() - (entry.expiresAtMs - this.cacheTtlMs) >= maxAgeMs) await this.loadShared(id);
    // Unknown or revoked: known to be invalid. Otherwise valid, or undecided (a revocation here raced the lookup).
    return this.cache.has(id) || !this.unknown.has(id);
  }

  /** Calls `listener` with the id of every key revoked through this object, once revoked; returns the unsubscribe. */
  onRevoked(listener: (id: string) => void): () => void {
    this.revokedListeners.add(listener);
    return () => this.revokedListeners.delete(listener);
  }

  /** Concurrent lookups of one key share one query. */
  private async loadShared(id: string): Promise<void> {
    let load = this.loading.get(id);
    if (load === undefined) {
      load = this.load(id).finally(() => this.loading.delete(id));
      this.loading.set(id, load);
    }
    await load;
  }

  private async load(id: string): Promise<void> {
    const revocations = this.revocations;
    const record = await this.store.find(id);
    if (revocations !== this.revocations) return; // revoked meanwhile: ask again next time
    const expiresAtMs = this.now() + this.cacheTtlMs;
    if (record === null || record.revokedAt !== null) {
      this.cache.delete(id);
      remember(this.unknown, id, expiresAtMs, KEY_NEGATIVE_CACHE_ENTRIES_MAX);
      return;
    }
    this.unknown.delete(id);
    remember(this.cache, id, { expiresAtMs, principal: principalOf(record), hash: Buffer.from(record.keyHash, 'hex') }, KEY_CACHE_ENTRIES_MAX);
  }

  /** A new key; the plaintext is in the answer and nowhere else, ever. */
  async create(input: { name: string; role: KeyRole; createdBy: string }): Promise<{ info: ApiKeyInfo; key: string }> {
    const { id, key } = generateApiKey();
    const record = await this.store.insert({ id, name: input.name, role: input.role, keyHash: hashApiKey(key), createdBy: input.createdBy });
    this.unknown.delete(id); // works here at once, whatever was presented under its id before
    return { info: infoOf(record), key };
  }

  async list(limit = KEYS_LIST_MAX): Promise<ApiKeyInfo[]> {
    return (await this.store.list(limit)).map(infoOf);
  }

  /** Revokes at once for this process (other processes: within their cache TTL); null: no such key. */
  async revoke(id: string): Promise<ApiKeyInfo | null> {
    this.revocations += 1;
    const record = await this.store.revoke(id);
    this.cache.delete(id);
    if (record) remember(this.unknown, id, this.now() + this.cacheTtlMs, KEY_NEGATIVE_CACHE_ENTRIES_MAX);
    if (record) for (const listener of this.revokedListeners) listener(id);
    return record ? infoOf(record) : null;
  }

  /**
   * The first admin key. With `chosenKey`: stored if no key exists yet (a restart with the same variable is
   * a no-op; a revoked bootstrap key stays revoked). Without: if no key exists yet, one is generated and
   * returned, to be shown once. Once any key exists, nothing is stored.
   */
  async bootstrap(chosenKey?: string): Promise<BootstrapOutcome> {
    if (chosenKey !== undefined) {
      const problem = chosenKeyProblem(chosenKey);
      if (problem) throw new Error(`the bootstrap key ${problem}`);
      const id = keyIdOf(chosenKey)!;
      const keyHash = hashApiKey(chosenKey);
      if (await this.store.insertIfNone({ id, name: 'bootstrap admin', role: 'admin', keyHash, createdBy: 'bootstrap' })) return { kind: 'stored', id };
      const existing = await this.store.find(id);
      return { kind: 'existing', known: existing !== null && existing.keyHash === keyHash };
    }
    const { id, key } = generateApiKey();
    if (await this.store.insertIfNone({ id, name: 'generated admin', role: 'admin', keyHash: hashApiKey(key), createdBy: 'bootstrap' })) {
      return { kind: 'generated', id, key };
    }
    return { kind: 'existing', known: false };
  }
}

/** Sets `id` in `map` as its newest entry (the Map's order is the eviction order), dropping the oldest past `max`. */
function remember<T>(map: Map<string, T>, id: string, value: T, max: number): void {
  map.delete(id);
  if (map.size >= max) map.delete(map.keys().next().value!);
  map.set(id, value);
}

function verify(entry: CacheEntry, key: string): Principal | null {
  const presented = createHash('sha256').update(key).digest();
  return timingSafeEqual(presented, entry.hash) ? entry.principal : null;
}
