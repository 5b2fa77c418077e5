// Where API keys are kept (the event store's database: migration 6). Keys are configuration, not events:
// a revocation updates the row, and nothing here is part of the ledger's history.

/** What a key may do; admin may do everything. Which route needs which: src/http/access-control.ts. */
export const KEY_ROLES = ['reader', 'writer', 'auditor', 'admin'] as const;
export type KeyRole = (typeof KEY_ROLES)[number];

export const isKeyRole = (value: unknown): value is KeyRole => (KEY_ROLES as readonly unknown[]).includes(value);

export interface ApiKeyRecord {
  /** The key's public part, 16 hex digits: `chr_<id>_<secret>`. */
  id: string;
  /** A label for people (who holds it, what for); not unique. */
  name: string;
  role: KeyRole;
  /** Hex SHA-256 of the whole key. Never leaves the server. */
  keyHash: string;
  /** ISO-8601, UTC. */
  createdAt: string;
  /** The principal that made it: key:<id>, cli:<user>, bootstrap. */
  createdBy: string;
  revokedAt: string | null;
}

export type NewApiKey = Pick<ApiKeyRecord, 'id' | 'name' | 'role' | 'keyHash' | 'createdBy'>;

export interface ApiKeyStore {
  find(id: string): Promise<ApiKeyRecord | null>;
  /** Oldest first, at most `limit`. */
  list(limit: number): Promise<ApiKeyRecord[]>;
  insert(key: NewApiKey): Promise<ApiKeyRecord>;
  /**
   * Inserts `key` only if no key exists at all, revoked ones included; true when it did. Atomic across
   * processes: two processes starting at once on an empty table store one key between them.
   */
  insertIfNone(key: NewApiKey): Promise<boolean>;
  /** Sets revoked_at (once: a second revocation keeps the first time); null when there is no such key. */
  revoke(id: string): Promise<ApiKeyRecord | null>;
}
