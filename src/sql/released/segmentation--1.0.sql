\echo Use "CREATE EXTENSION segmentation" to load this file. \quit
-- segmentation 1.0, assembled from src/sql/parts/ by the Makefile: edit the parts.

------------------------------------------------------------------------------
-- Validation, used by the segments table itself
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.check_criteria(criteria jsonb)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_check_criteria'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

COMMENT ON FUNCTION segmentation.check_criteria(jsonb) IS
'True for valid criteria; otherwise an error (SQLSTATE 22023) naming the path of the problem.';

------------------------------------------------------------------------------
-- Tables (their data is part of every pg_dump of the database)
------------------------------------------------------------------------------

CREATE TABLE segmentation.segments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name OPERATOR(pg_catalog.~) '[^[:space:]]'),
    description  text,
    criteria     jsonb NOT NULL DEFAULT '{}' CHECK (segmentation.check_criteria(criteria)),
    is_automatic boolean NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now()
);

-- Customer keys are text until a table is tracked; tracking retypes the
-- customer_id columns to the key type (bigint, text or uuid).
CREATE TABLE segmentation.customer_metrics (
    customer_id    text PRIMARY KEY,
    lifetime_value numeric NOT NULL DEFAULT 0,
    order_count    bigint NOT NULL DEFAULT 0,
    first_order_at timestamptz,
    last_order_at  timestamptz,
    customer_since timestamptz,
    loyalty_level  text,
    -- No later than the next instant at which the customer's automatic
    -- segments can change with the clock alone (NULL: never); refresh_due()
    -- looks at customers past theirs.
    reevaluate_at  timestamptz
) WITH (fillfactor = 90);  -- room for HOT updates: metrics change on every order

-- refresh_due() walks this index in (reevaluate_at, customer_id) order, one
-- batch after the other, each starting after the last row of the one before.
CREATE INDEX customer_metrics_reevaluate_at_idx
    ON segmentation.customer_metrics (reevaluate_at, customer_id) WHERE reevaluate_at IS NOT NULL;

CREATE TABLE segmentation.assignments (
    customer_id  text NOT NULL,
    segment_id   bigint NOT NULL,
    is_automatic boolean NOT NULL,
    assigned_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    assigned_by  text,
    -- is_automatic included: bulk refreshes read membership from the index alone.
    PRIMARY KEY (customer_id, segment_id) INCLUDE (is_automatic)
);

CREATE INDEX assignments_segment_id_idx ON segmentation.assignments (segment_id);

CREATE TABLE segmentation.assignment_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  text NOT NULL,
    segment_id   bigint NOT NULL,
    action       text NOT NULL CHECK (action IN ('added', 'removed')),
    is_automatic boolean NOT NULL,
    cause        text NOT NULL CHECK (cause IN ('order', 'customer', 'definition', 'time', 'refresh', 'manual')),
    actor        text,
    reason       text,
    logged_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE INDEX assignment_log_segment_idx ON segmentation.assignment_log (segment_id, logged_at);
CREATE INDEX assignment_log_customer_idx ON segmentation.assignment_log (customer_id, logged_at);

CREATE TABLE segmentation.tracked_tables (
    kind            text PRIMARY KEY CHECK (kind IN ('customers', 'orders')),
    relation        regclass NOT NULL UNIQUE,
    customer_column name NOT NULL,
    time_column     name NOT NULL,
    amount_column   name CHECK ((kind = 'orders') = (amount_column IS NOT NULL)),
    loyalty_column  name CHECK (kind = 'customers' OR loyalty_column IS NULL),
    live            boolean NOT NULL DEFAULT true
);

-- Notifications of prepared transactions (PREPARE TRANSACTION cannot NOTIFY):
-- written by the prepared transaction itself, sent and deleted by the session
-- that runs COMMIT PREPARED. Not dumped: they belong to this cluster's moment.
CREATE TABLE segmentation.prepared_notifications (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gid     text NOT NULL,
    payload text NOT NULL
);

SELECT pg_catalog.pg_extension_config_dump('segmentation.segments', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.segments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.customer_metrics', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.assignments', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.assignment_log', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.assignment_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.tracked_tables', '');

------------------------------------------------------------------------------
-- Triggers of the extension's own tables
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.segments_before_update()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_segments_before_update'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.segments_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_segments_changed'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE TRIGGER segments_before_update BEFORE UPDATE ON segmentation.segments
    FOR EACH ROW EXECUTE FUNCTION segmentation.segments_before_update();
CREATE TRIGGER segments_inserted AFTER INSERT ON segmentation.segments
    REFERENCING NEW TABLE AS segmentation_new
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.segments_changed();
CREATE TRIGGER segments_updated AFTER UPDATE ON segmentation.segments
    REFERENCING OLD TABLE AS segmentation_old NEW TABLE AS segmentation_new
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.segments_changed();
CREATE TRIGGER segments_deleted AFTER DELETE ON segmentation.segments
    REFERENCING OLD TABLE AS segmentation_old
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.segments_changed();
CREATE TRIGGER segments_truncated AFTER TRUNCATE ON segmentation.segments
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.segments_changed();

CREATE FUNCTION segmentation.sync_key_type()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_sync_key_type'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE TRIGGER tracked_tables_changed AFTER INSERT OR UPDATE OR DELETE ON segmentation.tracked_tables
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.sync_key_type();

------------------------------------------------------------------------------
-- Tracking the user's tables
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.track_customers(customers regclass, id_column name, created_at_column name,
                                             loyalty_column name DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_track_customers'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.track_orders(orders regclass, customer_column name, amount_column name,
                                          ordered_at_column name)
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_track_orders'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.untrack_customers()
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_untrack_customers'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.untrack_orders()
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_untrack_orders'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.set_live_evaluation(tracked_table regclass, live boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'segmentation_set_live_evaluation'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.customers_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_customers_changed'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.orders_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_orders_changed'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------------
-- Segments
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.create_segment(name text, criteria jsonb, is_automatic boolean,
                                            description text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_create_segment'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.get_all_segments()
RETURNS SETOF segmentation.segments
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM segmentation.segments ORDER BY name $$;

------------------------------------------------------------------------------
-- PRIVATE: planner-only helpers. Not API: not documented, no compatibility
-- promise, may change or go in any release (upgrade scripts may DROP them).
-- Nothing calls them but the plans that segment_match_support writes.
--
-- They stay in schema segmentation under their names: plans and EXPLAIN
-- output show them (sql/planning.sql), and the support function builds its
-- calls by these names. segment_match_support must exist before the public
-- segment_match(customer_metrics, ...) that names it, hence this section
-- comes before "Matching". Their EXECUTE grant is in the privileges section.
------------------------------------------------------------------------------

-- What the planner turns segment_match(m, criteria) into when m is a row of
-- segmentation.customer_metrics (see "Matching in queries" in the README):
-- the row's columns instead of a copy of the whole row, and, for a constant
-- criteria, plain comparisons plus these exact clock helpers.
CREATE FUNCTION segmentation.segment_match_values(lifetime_value numeric, order_count bigint,
                                                  last_order_at timestamptz, customer_since timestamptz,
                                                  loyalty_level text, criteria jsonb, as_of timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_values'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- The same with the criteria of a segmentation.segments row (a join of
-- customers with segments), both rows' versions (ctid, xmin) alongside.
CREATE FUNCTION segmentation.segment_match_rows(customer_version tid, customer_xmin xid,
                                                lifetime_value numeric, order_count bigint,
                                                last_order_at timestamptz, customer_since timestamptz,
                                                loyalty_level text, criteria jsonb,
                                                criteria_version tid, criteria_xmin xid, as_of timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segmentation.elapsed_at_least(since timestamptz, as_of timestamptz, micros bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_elapsed_at_least'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segmentation.elapsed_at_most(since timestamptz, as_of timestamptz, micros bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_elapsed_at_most'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segmentation.frequency_at_least(order_count bigint, customer_since timestamptz,
                                                as_of timestamptz, threshold numeric)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_frequency_at_least'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segmentation.frequency_at_most(order_count bigint, customer_since timestamptz,
                                               as_of timestamptz, threshold numeric)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_frequency_at_most'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segmentation.segment_match_support(internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'segmentation_segment_match_support'
LANGUAGE C STRICT;

------------------------------------------------------------------------------
-- Matching. Customer ids may be given as text, bigint (or integer) or uuid;
-- each is converted to the shop's key type.
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.segment_match(customer segmentation.customer_metrics, criteria jsonb,
                                           as_of timestamptz DEFAULT pg_catalog.now())
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_row'
LANGUAGE C IMMUTABLE PARALLEL SAFE
SUPPORT segmentation.segment_match_support;

CREATE FUNCTION segmentation.segment_match(customer_id text, criteria jsonb,
                                           as_of timestamptz DEFAULT pg_catalog.now())
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_id'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.segment_match(customer_id bigint, criteria jsonb,
                                           as_of timestamptz DEFAULT pg_catalog.now())
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_id'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.segment_match(customer_id uuid, criteria jsonb,
                                           as_of timestamptz DEFAULT pg_catalog.now())
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_id'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.calculate_automatic_segments(customer_id text,
                                                          as_of timestamptz DEFAULT pg_catalog.now())
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'segmentation_calculate_automatic_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.calculate_automatic_segments(customer_id bigint,
                                                          as_of timestamptz DEFAULT pg_catalog.now())
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'segmentation_calculate_automatic_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.calculate_automatic_segments(customer_id uuid,
                                                          as_of timestamptz DEFAULT pg_catalog.now())
RETURNS bigint[]
AS 'MODULE_PATHNAME', 'segmentation_calculate_automatic_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------------
-- Assignments
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.assign_automatic_segments(customer_id text, OUT added bigint[], OUT removed bigint[])
AS 'MODULE_PATHNAME', 'segmentation_assign_automatic_segments'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.assign_automatic_segments(customer_id bigint, OUT added bigint[], OUT removed bigint[])
AS 'MODULE_PATHNAME', 'segmentation_assign_automatic_segments'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.assign_automatic_segments(customer_id uuid, OUT added bigint[], OUT removed bigint[])
AS 'MODULE_PATHNAME', 'segmentation_assign_automatic_segments'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.assign_manual_segment(customer_id text, segment_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_assign_manual_segment'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.assign_manual_segment(customer_id bigint, segment_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_assign_manual_segment'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.assign_manual_segment(customer_id uuid, segment_id bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_assign_manual_segment'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.remove_manual_segment(customer_id text, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_remove_manual_segment'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.remove_manual_segment(customer_id bigint, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_remove_manual_segment'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.remove_manual_segment(customer_id uuid, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_remove_manual_segment'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.customer_segments(customer_id text)
RETURNS TABLE (segment_id bigint, name text, criteria jsonb, is_automatic boolean,
               assigned_at timestamptz, assigned_by text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.customer_segments(customer_id bigint)
RETURNS TABLE (segment_id bigint, name text, criteria jsonb, is_automatic boolean,
               assigned_at timestamptz, assigned_by text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.customer_segments(customer_id uuid)
RETURNS TABLE (segment_id bigint, name text, criteria jsonb, is_automatic boolean,
               assigned_at timestamptz, assigned_by text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------------
-- Refreshing
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.refresh_all(OUT customers bigint, OUT added bigint, OUT removed bigint)
AS 'MODULE_PATHNAME', 'segmentation_refresh_all'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.refresh_due(as_of timestamptz DEFAULT pg_catalog.now(),
                                         OUT customers bigint, OUT added bigint, OUT removed bigint)
AS 'MODULE_PATHNAME', 'segmentation_refresh_due'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

------------------------------------------------------------------------------
-- Tracked tables cannot be changed from under the extension: dropping a
-- tracked table, column or trigger, or renaming, retyping or disabling one,
-- making the table unlogged or giving it an inheritance parent or child
-- (hence CREATE TABLE ... INHERITS), or renaming a value of the tracked
-- loyalty enum, is refused until the table is untracked.
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.guard_tracked_drop()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'segmentation_guard_tracked_drop'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.guard_tracked_alter()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'segmentation_guard_tracked_alter'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE EVENT TRIGGER segmentation_guard_tracked_drop ON sql_drop
    EXECUTE FUNCTION segmentation.guard_tracked_drop();

CREATE EVENT TRIGGER segmentation_guard_tracked_alter ON ddl_command_end
    WHEN TAG IN ('ALTER TABLE', 'ALTER TRIGGER', 'CREATE TABLE', 'CREATE FOREIGN TABLE', 'ALTER FOREIGN TABLE',
                 'ALTER TYPE')
    EXECUTE FUNCTION segmentation.guard_tracked_alter();

-- Citus is not supported yet: making a tracked table a Citus table copies
-- its tracking triggers to shards (CREATE TRIGGER there), which is refused.
CREATE FUNCTION segmentation.guard_tracking_trigger_copies()
RETURNS event_trigger
AS 'MODULE_PATHNAME', 'segmentation_guard_tracking_trigger_copies'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE EVENT TRIGGER segmentation_guard_tracking_trigger_copies ON ddl_command_end
    WHEN TAG IN ('CREATE TRIGGER')
    EXECUTE FUNCTION segmentation.guard_tracking_trigger_copies();

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

CREATE FUNCTION segmentation.verify(as_of timestamptz DEFAULT pg_catalog.now())
RETURNS TABLE (customer_id text, problem text, expected text, actual text)
AS 'MODULE_PATHNAME', 'segmentation_verify'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

COMMENT ON FUNCTION segmentation.verify(timestamptz) IS
'Recomputes metrics and membership from the tracked tables and lists every difference (no rows: no drift).';

-- Members of a segment at each instant from "from" to "to", every "step",
-- replayed from the assignment log.
CREATE FUNCTION segmentation.member_counts(segment_id bigint, "from" timestamptz, "to" timestamptz,
                                           step interval)
RETURNS TABLE (at timestamptz, members bigint)
LANGUAGE plpgsql STABLE
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
               sum(CASE l.action WHEN 'added' THEN 1 ELSE -1 END) OVER (ORDER BY l.logged_at, l.id) AS members
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

------------------------------------------------------------------------------
-- Privileges: the service's customers:view and customers:edit
--
-- segmentation_viewer reads segments, membership, metrics and history;
-- segmentation_editor also creates, edits and deletes segments, assigns and
-- removes manual segments and refreshes. PUBLIC gets nothing. The roles are
-- created (NOLOGIN) when missing and never dropped: grant them to the
-- application's login roles. Tracking tables stays with the extension's owner.
------------------------------------------------------------------------------

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'segmentation_viewer') THEN
        CREATE ROLE segmentation_viewer NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'segmentation_editor') THEN
        CREATE ROLE segmentation_editor NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role('segmentation_editor', 'segmentation_viewer', 'MEMBER') THEN
        GRANT segmentation_viewer TO segmentation_editor;
    END IF;
END
$$;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA segmentation FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA segmentation FROM PUBLIC;

GRANT USAGE ON SCHEMA segmentation TO segmentation_viewer;
GRANT SELECT ON segmentation.segments, segmentation.assignments, segmentation.assignment_log,
                segmentation.customer_metrics, segmentation.tracked_tables TO segmentation_viewer;
GRANT EXECUTE ON FUNCTION
    segmentation.check_criteria(jsonb),
    segmentation.get_all_segments(),
    segmentation.segment_match(segmentation.customer_metrics, jsonb, timestamptz),
    -- The private planner-only helpers (parts/06): segment_match_support
    -- rewrites a viewer's segment_match(m, criteria) into calls of them, and
    -- the executor checks EXECUTE on those calls with the caller's rights, so
    -- without this grant a viewer's query over customer_metrics fails with
    -- "permission denied for function frequency_at_least" (checked). Granted, not API.
    segmentation.segment_match_values(numeric, bigint, timestamptz, timestamptz, text, jsonb, timestamptz),
    segmentation.segment_match_rows(tid, xid, numeric, bigint, timestamptz, timestamptz, text, jsonb, tid, xid, timestamptz),
    segmentation.elapsed_at_least(timestamptz, timestamptz, bigint),
    segmentation.elapsed_at_most(timestamptz, timestamptz, bigint),
    segmentation.frequency_at_least(bigint, timestamptz, timestamptz, numeric),
    segmentation.frequency_at_most(bigint, timestamptz, timestamptz, numeric),
    -- (The public API again.)
    segmentation.segment_match(text, jsonb, timestamptz),
    segmentation.segment_match(bigint, jsonb, timestamptz),
    segmentation.segment_match(uuid, jsonb, timestamptz),
    segmentation.calculate_automatic_segments(text, timestamptz),
    segmentation.calculate_automatic_segments(bigint, timestamptz),
    segmentation.calculate_automatic_segments(uuid, timestamptz),
    segmentation.customer_segments(text),
    segmentation.customer_segments(bigint),
    segmentation.customer_segments(uuid),
    segmentation.next_change_at(segmentation.customer_metrics, timestamptz),
    segmentation.member_counts(bigint, timestamptz, timestamptz, interval),
    segmentation.verify(timestamptz)
TO segmentation_viewer;

GRANT INSERT, UPDATE, DELETE ON segmentation.segments TO segmentation_editor;
GRANT EXECUTE ON FUNCTION
    segmentation.create_segment(text, jsonb, boolean, text),
    segmentation.assign_automatic_segments(text),
    segmentation.assign_automatic_segments(bigint),
    segmentation.assign_automatic_segments(uuid),
    segmentation.assign_manual_segment(text, bigint),
    segmentation.assign_manual_segment(bigint, bigint),
    segmentation.assign_manual_segment(uuid, bigint),
    segmentation.remove_manual_segment(text, bigint, text),
    segmentation.remove_manual_segment(bigint, bigint, text),
    segmentation.remove_manual_segment(uuid, bigint, text),
    segmentation.refresh_all(),
    segmentation.refresh_due(timestamptz),
    segmentation.schedule_refresh(text),
    segmentation.unschedule_refresh()
TO segmentation_editor;
