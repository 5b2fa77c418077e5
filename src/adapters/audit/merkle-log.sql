-- The Merkle log's statements (sql-merkle-log.ts; tables: migration 5). {{checkpoint_columns}}: a
-- merkle_checkpoints row's select list, text aliases included; order by the table's column (c.tree_size),
-- never by an alias (ORDER BY a bare name sorts by the output column of that name, and '633' > '4817').

-- The last leaf: the log's size and the position it has sealed up to.
-- name: last_leaf
SELECT leaf_index::text AS leaf_index, global_position::text AS global_position FROM merkle_leaves l ORDER BY l.leaf_index DESC LIMIT 1

-- A sealed batch in one statement (one round trip, atomic without BEGIN/COMMIT). Leaves: $1 index, $2
-- global position, $3 event id, $4 hash (hex); subtrees above the leaves: $5 level, $6 index, $7 hash (hex);
-- the checkpoint, if any ($8 null: none): $8 tree size, $9 root (hex), $10 issued at, $11 key id, $12
-- signature. The primary keys refuse a second sealer's overlapping batch. Prepared: chronicle_merkle_append.
-- name: append
WITH leaves AS (
  INSERT INTO merkle_leaves (leaf_index, global_position, event_id, leaf_hash)
  SELECT i, p, e, decode(h, 'hex') FROM unnest($1::bigint[], $2::bigint[], $3::uuid[], $4::text[]) AS t(i, p, e, h)
), nodes AS (
  INSERT INTO merkle_nodes (level, node_index, hash)
  SELECT l, i, decode(h, 'hex') FROM unnest($5::int[], $6::bigint[], $7::text[]) AS t(l, i, h)
), checkpoint AS (
  INSERT INTO merkle_checkpoints (tree_size, root_hash, issued_at, key_id, signature)
  SELECT $8::bigint, decode($9, 'hex'), $10, $11, $12 WHERE $8::bigint IS NOT NULL
)
SELECT 1

-- Prepared: chronicle_latest_checkpoint.
-- name: latest_checkpoint
SELECT {{checkpoint_columns}} FROM merkle_checkpoints c ORDER BY c.tree_size DESC LIMIT 1

-- name: checkpoint_at
SELECT {{checkpoint_columns}} FROM merkle_checkpoints WHERE tree_size = $1

-- Checkpoints after size $1, in size order, $2 at most.
-- name: checkpoints
SELECT {{checkpoint_columns}} FROM merkle_checkpoints c WHERE c.tree_size > $1 ORDER BY c.tree_size LIMIT $2

-- The leaf event $1 was sealed as. Prepared: chronicle_leaf_of.
-- name: leaf_of
SELECT leaf_index::text AS leaf_index, global_position::text AS global_position, encode(leaf_hash, 'hex') AS leaf_hash
  FROM merkle_leaves WHERE event_id = $1

-- name: size
SELECT (max(leaf_index) + 1)::text AS n FROM merkle_leaves

-- The stored hashes of subtrees ($1 levels, $2 indexes; level 0: a leaf), in the order given (h null: not
-- stored). Prepared: chronicle_merkle_node_hashes.
-- name: node_hashes
SELECT r.ord::text AS ord, encode(COALESCE(n.hash, l.leaf_hash), 'hex') AS h
  FROM unnest($1::int[], $2::bigint[]) WITH ORDINALITY AS r(level, idx, ord)
  LEFT JOIN merkle_nodes n ON r.level > 0 AND n.level = r.level AND n.node_index = r.idx
  LEFT JOIN merkle_leaves l ON r.level = 0 AND l.leaf_index = r.idx
 ORDER BY r.ord

-- The recorded signing keys (migration 8), oldest first; the last is the one the sealer signs with.
-- name: signing_keys
SELECT seq, key_id, public_key, to_char(recorded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS recorded_at
  FROM signing_keys k ORDER BY k.seq

-- Records a key ($2 key id, $3 public key) as number $1, the one after the latest; nothing when another
-- process recorded number $1 first (the caller reads the keys again and sees which won).
-- name: record_signing_key
INSERT INTO signing_keys (seq, key_id, public_key) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING seq
