-- The quorum gate (quorum-gate.ts). A follower's page of $all is handed out only once the synchronous
-- standbys have flushed the WAL it was read at. `server` names the incarnation that answers (its postmaster's
-- start and its WAL timeline, from the WAL file name): a mark taken on one server is never compared with
-- another's standbys (after a failover the new primary's LSNs may pass an old mark with other WAL). A server
-- in recovery gates nothing (followers read the primary; pg_current_wal_flush_lsn() fails there).

-- Where the WAL stands right after a read, and whether anything is synchronous: run after the read (a later
-- statement of the same session, or, as `{{wal_mark}}`, a subquery of the read's own statement, evaluated
-- once, after its snapshot), so every commit the read saw ends at or before `flush_lsn` (a commit is flushed
-- locally before it becomes visible).
-- name: wal_mark
SELECT CASE WHEN x.r THEN '' ELSE current_setting('synchronous_standby_names') END AS sync_names,
       x.l::text AS flush_lsn,
       CASE WHEN x.r THEN NULL ELSE pg_postmaster_start_time()::text || '/' || substr(pg_walfile_name(x.l), 1, 8) END AS server
  FROM (SELECT r, CASE WHEN r THEN NULL ELSE pg_current_wal_flush_lsn() END AS l FROM pg_is_in_recovery() AS r) x

-- What the synchronous standbys have flushed, highest first (FIRST k: those in state sync; ANY k: quorum),
-- with the setting as it is now (Patroni changes it at runtime) and the same `server` as wal_mark. Needs
-- pg_read_all_stats (pg_monitor) or a superuser: others see NULL flush_lsn for other roles' WAL senders.
-- name: standbys_flushed
SELECT CASE WHEN x.r THEN '' ELSE current_setting('synchronous_standby_names') END AS sync_names,
       CASE WHEN x.r THEN NULL ELSE pg_postmaster_start_time()::text || '/' || substr(pg_walfile_name(pg_current_wal_flush_lsn()), 1, 8) END AS server,
       ARRAY(SELECT flush_lsn::text FROM pg_stat_replication
              WHERE sync_state IN ('sync', 'quorum') AND flush_lsn IS NOT NULL ORDER BY flush_lsn DESC) AS flushed
  FROM pg_is_in_recovery() AS x(r)
