-- Tamper evidence, part 3 (docs/audit.md): the public keys that sign the Merkle log's checkpoints, recorded
-- in the store when a ledger first signs with them (src/cli/signing-key-choice.ts at start-up, the sealer
-- before it signs), so a verifier finds the ledger's key in the store itself and never needs a private key.
-- seq 1 is the first key; an explicit rotation (CHRONICLE_SIGNING_KEY_ROTATE) adds the next one. The highest
-- seq is the key the sealer signs with; older ones still verify the checkpoints they signed. Append-only.
CREATE TABLE IF NOT EXISTS signing_keys (
  seq          INT    PRIMARY KEY CHECK (seq > 0),
  key_id       TEXT   NOT NULL UNIQUE CHECK (key_id ~ '^[0-9a-f]{16}$'),
  public_key   TEXT   NOT NULL UNIQUE CHECK (public_key ~ '^[A-Za-z0-9+/]{43}=$'),  -- raw 32-byte Ed25519, base64
  recorded_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
  -- keyId is the first 16 hex digits of SHA-256 of the raw key (src/domain/audit/checkpoint.ts).
  CHECK (key_id = left(encode(sha256(decode(public_key, 'base64')), 'hex'), 16))
);
DROP TRIGGER IF EXISTS signing_keys_append_only ON signing_keys;
CREATE TRIGGER signing_keys_append_only BEFORE UPDATE OR DELETE ON signing_keys FOR EACH ROW EXECUTE FUNCTION chronicle_append_only();
DROP TRIGGER IF EXISTS signing_keys_no_truncate ON signing_keys;
CREATE TRIGGER signing_keys_no_truncate BEFORE TRUNCATE ON signing_keys FOR EACH STATEMENT EXECUTE FUNCTION chronicle_append_only();
