
-- The fast append (sql-event-store.ts, FAST_APPEND) is one plain statement: when only some of its streams
-- are at the expected version, their version bumps must not survive, so it aborts the whole statement.
CREATE OR REPLACE FUNCTION chronicle_all_or_none(updated BIGINT, wanted BIGINT) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF updated <> 0 AND updated <> wanted THEN
    RAISE EXCEPTION 'version_conflict on % of % streams', wanted - updated, wanted USING ERRCODE = 'CL411';
  END IF;
  RETURN updated = wanted;
END $$;
