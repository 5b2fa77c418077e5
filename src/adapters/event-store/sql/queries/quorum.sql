-- The quorum gate (quorum-gate.ts). A follower's page of $all is handed out only once the synchronous
-- standbys have flushed the WAL it was read at. `server` names the incarnation that answers (its postmaster's
-- start and its WAL timeline): a mark taken on one server is never compared with another's standbys (after a
-- failover the new primary's LSNs may pass an old mark with other WAL).

-- Where the WAL stands right after a read, and whether anything is synchronous: run after the read (a later
-- statement of the same session, or a column of the read's own statement, evaluated after its snapshot), so
-- every commit the read saw ends at or before `flush_lsn` (a commit is flushed before it becomes visible). A
-- server in recovery gates nothing (followers read the primary). The same select list as read-all.sql's
-- read_all_gated.
-- name: wal_mark
SELECT CASE WHEN pg_is_in_recovery() THEN '' ELSE current_setting('synchronous_standby_names') END AS sync_names,
       CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_flush_lsn()::text END AS flush_lsn,
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_postmaster_start_time()::text || '/' || substr(pg_walfile_name(pg_current_wal_flush_lsn()), 1, 8) END AS server

-- What the synchronous standbys have flushed, highest first (FIRST k: those in state sync; ANY k: quorum),
-- with the setting as it is now (Patroni changes it at runtime) and the same `server` as wal_mark. Needs
-- pg_read_all_stats (pg_monitor) or a superuser: others see NULL flush_lsn for other roles' WAL senders.
-- name: standbys_flushed
SELECT CASE WHEN pg_is_in_recovery() THEN '' ELSE current_setting('synchronous_standby_names') END AS sync_names,
       CASE WHEN pg_is_in_recovery() THEN NULL
            ELSE pg_postmaster_start_time()::text || '/' || substr(pg_walfile_name(pg_current_wal_flush_lsn()), 1, 8) END AS server,
       ARRAY(SELECT flush_lsn::text FROM pg_stat_replication
              WHERE sync_state IN ('sync', 'quorum') AND flush_lsn IS NOT NULL ORDER BY flush_lsn DESC) AS flushed
