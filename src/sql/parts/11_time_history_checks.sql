------------------------------------------------------------------------------
-- Time, history and checks
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.next_change_at(customer segmentation.customer_metrics,
                                            as_of timestamptz DEFAULT pg_catalog.now())
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'segmentation_next_change_at'
LANGUAGE C STABLE;

COMMENT ON FUNCTION segmentation.next_change_at(segmentation.customer_metrics, timestamptz) IS
'When the customer''s automatic segments may next change with the clock alone (NULL: never).';

-- On Citus a query over customer_metrics runs on its shards, whose rows have
-- the shard's own row type: these take any row with customer_metrics'
-- columns (read by name), so segment_match(m, ...) and next_change_at(m)
-- work there too. A customer_metrics row still calls the typed versions.
CREATE FUNCTION segmentation.segment_match(customer record, criteria jsonb, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_row'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segmentation.next_change_at(customer record, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS timestamptz
AS 'MODULE_PATHNAME', 'segmentation_next_change_at'
LANGUAGE C STABLE;

CREATE FUNCTION segmentation.verify(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (customer_id text, problem text, expected text, actual text)
AS 'MODULE_PATHNAME', 'segmentation_verify'
LANGUAGE C STABLE ROWS 10 SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION segmentation.verify(timestamptz) IS
'Recomputes metrics and membership from the tracked tables and lists every difference (no rows: no drift).';

-- Members of a segment at each instant from "from" to "to", every "step",
-- replayed from the assignment log.
CREATE FUNCTION segmentation.member_counts(segment_id bigint, "from" timestamptz, "to" timestamptz,
                                           step interval)
RETURNS TABLE (at timestamptz, members bigint)
LANGUAGE plpgsql STABLE ROWS 100
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF segment_id IS NULL OR "from" IS NULL OR "to" IS NULL OR step IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'segment_id, from, to and step must not be NULL';
    END IF;
    IF NOT isfinite("from") OR NOT isfinite("to") OR "from" > "to" THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'member_counts needs finite instants, with "from" no later than "to"';
    END IF;
    IF step <= interval '0' OR "from" + step <= "from" THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'member_counts needs a positive step';
    END IF;
    IF extract(epoch FROM "to" - "from") / extract(epoch FROM ("from" + step) - "from") > 100000 THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = 'member_counts returns at most 100,000 instants; use a longer step';
    END IF;
    RETURN QUERY
    WITH changes AS MATERIALIZED (
        SELECT l.logged_at, l.id,
               sum(CASE l.action WHEN 'added' THEN 1 WHEN 'removed' THEN -1 ELSE 0 END) OVER (ORDER BY l.logged_at, l.id) AS members
        FROM segmentation.assignment_log l
        WHERE l.segment_id = member_counts.segment_id AND l.logged_at <= member_counts."to"
    )
    SELECT t.at, coalesce((SELECT c.members FROM changes c WHERE c.logged_at <= t.at
                           ORDER BY c.logged_at DESC, c.id DESC LIMIT 1), 0)::bigint
    FROM pg_catalog.generate_series(member_counts."from", member_counts."to", member_counts.step) AS t(at);
END
$$;

-- refresh_due() on a schedule, through pg_cron (which must be installed in
-- this database, the one cron.database_name names).
CREATE FUNCTION segmentation.schedule_refresh(schedule text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    job bigint;
BEGIN
    IF schedule IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'schedule must not be NULL';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'segmentation.schedule_refresh() needs the pg_cron extension, which is not installed in this database',
            HINT = 'Install the postgresql-15-cron package, add pg_cron to shared_preload_libraries, set cron.database_name to '
                   || pg_catalog.quote_literal(pg_catalog.current_database()) || ' and run CREATE EXTENSION pg_cron.';
    END IF;
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
        USING 'segmentation.refresh_due', schedule, 'SELECT segmentation.refresh_due()';
    RETURN job;
END
$$;

CREATE FUNCTION segmentation.unschedule_refresh()
RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    removed boolean;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
        RETURN false;
    END IF;
    EXECUTE 'SELECT count(*) > 0 FROM cron.job WHERE jobname = $1' INTO removed USING 'segmentation.refresh_due';
    IF removed THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING 'segmentation.refresh_due';
    END IF;
    RETURN removed;
END
$$;
