
-- Tamper evidence, part 2 (docs/audit.md): the RFC 9162 Merkle log the sealer (src/application/sealer.ts)
-- extends in $all's commit order. merkle_leaves: leaf i is the event at global_position, with its leaf hash
-- SHA-256(0x00 || chronicle-event-v1). merkle_nodes: the hash of every complete aligned subtree above the
-- leaves (level L, index i covers leaves i*2^L .. (i+1)*2^L - 1), so any proof for any size takes O(log n)
-- rows. merkle_checkpoints: each signed (size, root, time). All three append-only, like events.
CREATE OR REPLACE FUNCTION chronicle_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only: % is not allowed', TG_TABLE_NAME, TG_OP USING ERRCODE = 'CL001';
END $$;

CREATE TABLE IF NOT EXISTS merkle_leaves (
  leaf_index       BIGINT PRIMARY KEY CHECK (leaf_index >= 0),
  global_position  BIGINT NOT NULL UNIQUE,
  event_id         UUID   NOT NULL UNIQUE,
  leaf_hash        BYTEA  NOT NULL CHECK (octet_length(leaf_hash) = 32)
);
CREATE TABLE IF NOT EXISTS merkle_nodes (
  level       SMALLINT NOT NULL CHECK (level > 0),
  node_index  BIGINT   NOT NULL CHECK (node_index >= 0),
  hash        BYTEA    NOT NULL CHECK (octet_length(hash) = 32),
  PRIMARY KEY (level, node_index)
);
CREATE TABLE IF NOT EXISTS merkle_checkpoints (
  tree_size  BIGINT PRIMARY KEY CHECK (tree_size > 0),
  root_hash  BYTEA  NOT NULL CHECK (octet_length(root_hash) = 32),
  issued_at  TEXT   NOT NULL,   -- exactly as signed
  key_id     TEXT   NOT NULL,
  signature  TEXT   NOT NULL    -- Ed25519, base64
);
DROP TRIGGER IF EXISTS merkle_leaves_append_only ON merkle_leaves;
CREATE TRIGGER merkle_leaves_append_only BEFORE UPDATE OR DELETE ON merkle_leaves FOR EACH ROW EXECUTE FUNCTION chronicle_append_only();
DROP TRIGGER IF EXISTS merkle_leaves_no_truncate ON merkle_leaves;
CREATE TRIGGER merkle_leaves_no_truncate BEFORE TRUNCATE ON merkle_leaves FOR EACH STATEMENT EXECUTE FUNCTION chronicle_append_only();
DROP TRIGGER IF EXISTS merkle_nodes_append_only ON merkle_nodes;
CREATE TRIGGER merkle_nodes_append_only BEFORE UPDATE OR DELETE ON merkle_nodes FOR EACH ROW EXECUTE FUNCTION chronicle_append_only();
DROP TRIGGER IF EXISTS merkle_nodes_no_truncate ON merkle_nodes;
CREATE TRIGGER merkle_nodes_no_truncate BEFORE TRUNCATE ON merkle_nodes FOR EACH STATEMENT EXECUTE FUNCTION chronicle_append_only();
DROP TRIGGER IF EXISTS merkle_checkpoints_append_only ON merkle_checkpoints;
CREATE TRIGGER merkle_checkpoints_append_only BEFORE UPDATE OR DELETE ON merkle_checkpoints FOR EACH ROW EXECUTE FUNCTION chronicle_append_only();
DROP TRIGGER IF EXISTS merkle_checkpoints_no_truncate ON merkle_checkpoints;
CREATE TRIGGER merkle_checkpoints_no_truncate BEFORE TRUNCATE ON merkle_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION chronicle_append_only();
