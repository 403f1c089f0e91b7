\echo Use "ALTER EXTENSION segmentation UPDATE TO '1.1'" to load this file. \quit
-- segmentation 1.0 -> 1.1: the same changes as src/sql/parts/ made since 1.0
-- (src/sql/README.md, "Releasing a version"). test/scripts/upgrade.t checks
-- that this path and a fresh 1.1 install give the same extension.

------------------------------------------------------------------------------
-- criteria-membership: inSegment / notInSegment need no SQL change (the
-- library reads them); overrides of automatic segments: the table, the log's
-- new actions and cause, include_customer / exclude_customer /
-- remove_override, customer_segments' override column, member_counts
-- counting membership actions only.
------------------------------------------------------------------------------

-- Overrides of automatic segments (include_customer, exclude_customer): an
-- included customer is a member whatever the criteria say, an excluded one
-- never is. Written only through those functions and remove_override().
CREATE TABLE segmentation.overrides (
    customer_id text NOT NULL,
    segment_id  bigint NOT NULL,
    included    boolean NOT NULL,
    actor       text,
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (customer_id, segment_id) INCLUDE (included)
);

CREATE INDEX overrides_segment_id_idx ON segmentation.overrides (segment_id);

SELECT pg_catalog.pg_extension_config_dump('segmentation.overrides', '');

-- The keys of overrides follow the others' type (text until tracked).
DO $$
DECLARE
    key_type text := (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid = 'segmentation.customer_metrics'::pg_catalog.regclass
                        AND a.attname = 'customer_id');
BEGIN
    IF key_type <> 'text' THEN
        EXECUTE pg_catalog.format('ALTER TABLE segmentation.overrides ALTER COLUMN customer_id TYPE %s USING customer_id::text::%s',
                                  key_type, key_type);
    END IF;
END
$$;

ALTER TABLE segmentation.assignment_log
    DROP CONSTRAINT assignment_log_action_check,
    ADD CONSTRAINT assignment_log_action_check
        CHECK (action IN ('added', 'removed', 'included', 'excluded', 'override_removed')),
    DROP CONSTRAINT assignment_log_cause_check,
    ADD CONSTRAINT assignment_log_cause_check
        CHECK (cause IN ('order', 'customer', 'definition', 'time', 'refresh', 'manual', 'override'));

CREATE OR REPLACE FUNCTION segmentation.member_counts(segment_id bigint, "from" timestamptz, "to" timestamptz,
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
               sum(CASE l.action WHEN 'added' THEN 1 WHEN 'removed' THEN -1 ELSE 0 END) OVER (ORDER BY l.logged_at, l.id) AS members
        FROM segmentation.assignment_log l
        WHERE l.segment_id = member_counts.segment_id AND l.logged_at <= member_counts."to"
    )
    SELECT t.at, coalesce((SELECT c.members FROM changes c WHERE c.logged_at <= t.at
                           ORDER BY c.logged_at DESC, c.id DESC LIMIT 1), 0)::bigint
    FROM pg_catalog.generate_series(member_counts."from", member_counts."to", member_counts.step) AS t(at);
END
$$;

DROP FUNCTION segmentation.customer_segments(text);
DROP FUNCTION segmentation.customer_segments(bigint);
DROP FUNCTION segmentation.customer_segments(uuid);
CREATE FUNCTION segmentation.customer_segments(customer_id text)
RETURNS TABLE (segment_id bigint, name text, criteria jsonb, is_automatic boolean,
               assigned_at timestamptz, assigned_by text, override text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.customer_segments(customer_id bigint)
RETURNS TABLE (segment_id bigint, name text, criteria jsonb, is_automatic boolean,
               assigned_at timestamptz, assigned_by text, override text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.customer_segments(customer_id uuid)
RETURNS TABLE (segment_id bigint, name text, criteria jsonb, is_automatic boolean,
               assigned_at timestamptz, assigned_by text, override text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Overrides of automatic segments: a customer included whatever the
-- criteria say, or excluded whatever they say, until the override is removed.

CREATE FUNCTION segmentation.include_customer(customer_id text, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_include_customer'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.include_customer(customer_id bigint, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_include_customer'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.include_customer(customer_id uuid, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_include_customer'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.exclude_customer(customer_id text, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_exclude_customer'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.exclude_customer(customer_id bigint, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_exclude_customer'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.exclude_customer(customer_id uuid, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_exclude_customer'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.remove_override(customer_id text, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_remove_override'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.remove_override(customer_id bigint, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_remove_override'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.remove_override(customer_id uuid, segment_id bigint, reason text DEFAULT NULL)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_remove_override'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION
    segmentation.customer_segments(text), segmentation.customer_segments(bigint),
    segmentation.customer_segments(uuid),
    segmentation.include_customer(text, bigint, text), segmentation.include_customer(bigint, bigint, text),
    segmentation.include_customer(uuid, bigint, text),
    segmentation.exclude_customer(text, bigint, text), segmentation.exclude_customer(bigint, bigint, text),
    segmentation.exclude_customer(uuid, bigint, text),
    segmentation.remove_override(text, bigint, text), segmentation.remove_override(bigint, bigint, text),
    segmentation.remove_override(uuid, bigint, text)
FROM PUBLIC;
REVOKE ALL ON segmentation.overrides FROM PUBLIC;
GRANT SELECT ON segmentation.overrides TO segmentation_viewer;
GRANT EXECUTE ON FUNCTION
    segmentation.customer_segments(text), segmentation.customer_segments(bigint),
    segmentation.customer_segments(uuid)
TO segmentation_viewer;
GRANT EXECUTE ON FUNCTION
    segmentation.include_customer(text, bigint, text), segmentation.include_customer(bigint, bigint, text),
    segmentation.include_customer(uuid, bigint, text),
    segmentation.exclude_customer(text, bigint, text), segmentation.exclude_customer(bigint, bigint, text),
    segmentation.exclude_customer(uuid, bigint, text),
    segmentation.remove_override(text, bigint, text), segmentation.remove_override(bigint, bigint, text),
    segmentation.remove_override(uuid, bigint, text)
TO segmentation_editor;

------------------------------------------------------------------------------
-- Changing segments online (issue 11: segment definitions change online)
------------------------------------------------------------------------------

ALTER TABLE segmentation.segments
    ADD COLUMN pending_change text CONSTRAINT segments_pending_change_check
        CHECK (pending_change IN ('creating', 'redefining', 'deleting')),
    ADD COLUMN pending_criteria jsonb CONSTRAINT segments_pending_criteria_check
        CHECK (pending_criteria IS NULL OR segmentation.check_criteria(pending_criteria)),
    ADD CONSTRAINT segments_pending_criteria_when_redefining
        CHECK ((pending_change IS NOT DISTINCT FROM 'redefining') = (pending_criteria IS NOT NULL)),
    ADD CONSTRAINT segments_pending_change_automatic CHECK (pending_change IS NULL OR is_automatic);

-- One step of a segment's pending change; NULL when none is left.
CREATE FUNCTION segmentation.segment_change_step(segment_id bigint, after text)
RETURNS text
AS 'MODULE_PATHNAME', 'segmentation_segment_change_step'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Puts a change in force: a new segment being created, or an existing
-- automatic one being redefined or deleted. Returns the segment's id.
CREATE FUNCTION segmentation.start_segment_change(change text, segment_id bigint, name text, criteria jsonb,
                                                  description text)
RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    current segmentation.segments;
    created bigint;
BEGIN
    IF change = 'creating' THEN
        -- Trimmed, as create_segment trims (the table checks the rest).
        name := pg_catalog.regexp_replace(name, '^[[:space:]]+|[[:space:]]+$', '', 'g');
        IF name IS NULL OR name OPERATOR(pg_catalog.=) '' THEN
            RAISE EXCEPTION 'segment name must not be empty' USING ERRCODE = '22023';
        END IF;
        IF criteria IS NULL THEN
            RAISE EXCEPTION 'criteria must not be NULL' USING ERRCODE = '22004';
        END IF;
        BEGIN
            INSERT INTO segmentation.segments (name, description, criteria, is_automatic, pending_change)
            VALUES (name, description, criteria, true, 'creating')
            RETURNING id INTO created;
        EXCEPTION WHEN unique_violation THEN
            RAISE EXCEPTION 'segment "%" already exists', name USING ERRCODE = '23505';
        END;
        RETURN created;
    END IF;
    IF segment_id IS NULL THEN
        RAISE EXCEPTION 'segment id must not be NULL' USING ERRCODE = '22004';
    END IF;
    IF change = 'redefining' AND criteria IS NULL THEN
        RAISE EXCEPTION 'criteria must not be NULL' USING ERRCODE = '22004';
    END IF;
    SELECT * INTO current FROM segmentation.segments s WHERE s.id = segment_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'segment % does not exist', segment_id USING ERRCODE = '42704';
    END IF;
    IF NOT current.is_automatic THEN
        RAISE EXCEPTION 'segment % is manual: only automatic segments change online', segment_id
            USING ERRCODE = '55000',
                  HINT = 'A manual segment is never re-evaluated: DELETE FROM segmentation.segments removes it.';
    END IF;
    IF current.pending_change IS NOT NULL THEN
        RAISE EXCEPTION 'segment % has an online change in progress (%)', segment_id, current.pending_change
            USING ERRCODE = '55000',
                  HINT = pg_catalog.format('CALL segmentation.finish_segment_change(%s) completes it.', segment_id);
    END IF;
    UPDATE segmentation.segments s
       SET pending_change = change,
           pending_criteria = CASE WHEN change = 'redefining' THEN criteria END
     WHERE s.id = segment_id;
    RETURN segment_id;
END
$$;

-- Completes a change whose steps are all done: stores the new criteria,
-- marks a new segment populated, or deletes a segment now empty.
CREATE FUNCTION segmentation.complete_segment_change(segment_id bigint)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    change text;
BEGIN
    SELECT s.pending_change INTO change FROM segmentation.segments s WHERE s.id = segment_id FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'segment % does not exist', segment_id USING ERRCODE = '42704';
    END IF;
    IF change = 'creating' THEN
        UPDATE segmentation.segments s SET pending_change = NULL WHERE s.id = segment_id;
    ELSIF change = 'redefining' THEN
        UPDATE segmentation.segments s
           SET criteria = s.pending_criteria, pending_criteria = NULL, pending_change = NULL
         WHERE s.id = segment_id;
    ELSIF change = 'deleting' THEN
        DELETE FROM segmentation.segments s WHERE s.id = segment_id;
    ELSE
        RAISE EXCEPTION 'segment % has no online change in progress', segment_id USING ERRCODE = '55000';
    END IF;
END
$$;

-- The procedures. Not SECURITY DEFINER (a procedure that commits cannot
-- be): they call the functions above, which are, and check the caller's
-- right through them. A CALL inside a transaction block is refused by
-- PostgreSQL (2D000), since they commit.
CREATE PROCEDURE segmentation.finish_segment_change(segment_id bigint)
LANGUAGE plpgsql
AS $$
DECLARE
    next text;
BEGIN
    LOOP
        next := segmentation.segment_change_step(segment_id, next);
        COMMIT;
        EXIT WHEN next IS NULL;
    END LOOP;
    PERFORM segmentation.complete_segment_change(segment_id);
    COMMIT;
END
$$;

CREATE PROCEDURE segmentation.create_segment_concurrently(name text, criteria jsonb, description text DEFAULT NULL,
                                                         INOUT segment_id bigint DEFAULT NULL)
LANGUAGE plpgsql
AS $$
BEGIN
    segment_id := segmentation.start_segment_change('creating', NULL, name, criteria, description);
    COMMIT;
    CALL segmentation.finish_segment_change(segment_id);
END
$$;

CREATE PROCEDURE segmentation.update_segment_concurrently(segment_id bigint, criteria jsonb)
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM segmentation.start_segment_change('redefining', segment_id, NULL, criteria, NULL);
    COMMIT;
    CALL segmentation.finish_segment_change(segment_id);
END
$$;

CREATE PROCEDURE segmentation.delete_segment_concurrently(segment_id bigint)
LANGUAGE plpgsql
AS $$
BEGIN
    PERFORM segmentation.start_segment_change('deleting', segment_id, NULL, NULL, NULL);
    COMMIT;
    CALL segmentation.finish_segment_change(segment_id);
END
$$;

REVOKE ALL ON FUNCTION
    segmentation.segment_change_step(bigint, text),
    segmentation.start_segment_change(text, bigint, text, jsonb, text),
    segmentation.complete_segment_change(bigint)
FROM PUBLIC;
REVOKE ALL ON PROCEDURE
    segmentation.finish_segment_change(bigint),
    segmentation.create_segment_concurrently(text, jsonb, text, bigint),
    segmentation.update_segment_concurrently(bigint, jsonb),
    segmentation.delete_segment_concurrently(bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    segmentation.segment_change_step(bigint, text),
    segmentation.start_segment_change(text, bigint, text, jsonb, text),
    segmentation.complete_segment_change(bigint)
TO segmentation_editor;
GRANT EXECUTE ON PROCEDURE
    segmentation.finish_segment_change(bigint),
    segmentation.create_segment_concurrently(text, jsonb, text, bigint),
    segmentation.update_segment_concurrently(bigint, jsonb),
    segmentation.delete_segment_concurrently(bigint)
TO segmentation_editor;



------------------------------------------------------------------------------
-- The admin API (issue 13): update_segment, delete_segment, segment_sizes,
-- segment_members, preview, preview_change, explain_match; strict segment
-- names and manual segments without criteria; realistic ROWS estimates.
------------------------------------------------------------------------------

-- 1.1 refuses what 1.0 let through: names that differ only by case or by
-- surrounding spaces, names over 200 characters, manual segments with
-- criteria. A 1.0 database holding any of them is not changed: the update
-- stops and names them, for the owner to rename or fix, then update again.
DO $$
DECLARE
    problems text;
BEGIN
    SELECT pg_catalog.string_agg(problem, '; ' ORDER BY problem) INTO problems FROM (
        SELECT pg_catalog.format('segments %s have the same name regardless of case and surrounding spaces (%s)',
                                 pg_catalog.string_agg(s.id::text, ', ' ORDER BY s.id),
                                 pg_catalog.string_agg(pg_catalog.quote_literal(s.name), ', ' ORDER BY s.id))
        FROM segmentation.segments s
        GROUP BY pg_catalog.lower(pg_catalog.btrim(s.name, E' \t\n\r\f\x0B'))
        HAVING pg_catalog.count(*) > 1
        UNION ALL
        SELECT pg_catalog.format('segment %s (%s) has spaces around its name', s.id, pg_catalog.quote_literal(s.name))
        FROM segmentation.segments s
        WHERE s.name OPERATOR(pg_catalog.~) '^[ \t\n\r\f\v]|[ \t\n\r\f\v]$'
        UNION ALL
        SELECT pg_catalog.format('segment %s has a name of %s characters', s.id, pg_catalog.char_length(s.name))
        FROM segmentation.segments s
        WHERE pg_catalog.char_length(s.name) > 200
        UNION ALL
        SELECT pg_catalog.format('segment %s (%s) is manual and has criteria %s', s.id,
                                 pg_catalog.quote_literal(s.name), s.criteria)
        FROM segmentation.segments s
        WHERE NOT s.is_automatic AND s.criteria OPERATOR(pg_catalog.<>) '{}'::jsonb
    ) AS p(problem);
    IF problems IS NOT NULL THEN
        RAISE EXCEPTION USING
            ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = 'cannot update segmentation to 1.1: ' || problems,
            DETAIL = 'Version 1.1 keeps segment names unique regardless of case, without surrounding spaces and '
                     'at most 200 characters long, and manual segments without criteria.',
            HINT = 'Rename or fix those segments (UPDATE segmentation.segments SET name = ..., or criteria = ''{}'' '
                   'for a manual segment), then run ALTER EXTENSION segmentation UPDATE again.';
    END IF;
END
$$;

ALTER TABLE segmentation.segments
    ADD CONSTRAINT segments_name_trimmed CHECK (name OPERATOR(pg_catalog.!~) '^[ \t\n\r\f\v]|[ \t\n\r\f\v]$'),
    ADD CONSTRAINT segments_name_length CHECK (pg_catalog.char_length(name) OPERATOR(pg_catalog.<=) 200),
    ADD CONSTRAINT segments_manual_without_criteria
        CHECK (is_automatic OR criteria OPERATOR(pg_catalog.=) '{}'::jsonb);

CREATE UNIQUE INDEX segments_name_lower_idx ON segmentation.segments (pg_catalog.lower(name));

-- Keyset pages of a segment's members walk (segment_id, customer_id).
DROP INDEX segmentation.assignments_segment_id_idx;
CREATE INDEX assignments_segment_id_idx ON segmentation.assignments (segment_id, customer_id);

ALTER FUNCTION segmentation.get_all_segments() ROWS 20;
ALTER FUNCTION segmentation.customer_segments(text) ROWS 5;
ALTER FUNCTION segmentation.customer_segments(bigint) ROWS 5;
ALTER FUNCTION segmentation.customer_segments(uuid) ROWS 5;
ALTER FUNCTION segmentation.verify(timestamptz) ROWS 10;
ALTER FUNCTION segmentation.member_counts(bigint, timestamptz, timestamptz, interval) ROWS 100;

-- Editing and deleting: NULL leaves a column as it is. The segments
-- triggers re-evaluate an automatic segment whose criteria change, and
-- remove a deleted segment's members (logged with the actor).
CREATE FUNCTION segmentation.update_segment(segment_id bigint, name text DEFAULT NULL, criteria jsonb DEFAULT NULL,
                                            description text DEFAULT NULL)
RETURNS segmentation.segments
AS 'MODULE_PATHNAME', 'segmentation_update_segment'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.delete_segment(segment_id bigint)
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_delete_segment'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Member counts, from assignments_segment_id_idx (index-only).
CREATE FUNCTION segmentation.segment_sizes(segment_ids bigint[] DEFAULT NULL)
RETURNS TABLE (segment_id bigint, name text, is_automatic boolean, members bigint)
LANGUAGE plpgsql STABLE ROWS 20
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    -- Counted first, then joined, not by a subquery per segment, and in
    -- PL/pgSQL, not SQL: on Citus the assignments are distributed and
    -- segments a reference table, and Citus plans neither a correlated
    -- subquery over both nor a SQL function's parameters.
    RETURN QUERY
    WITH c AS MATERIALIZED (
        SELECT a.segment_id, pg_catalog.count(*) AS members FROM segmentation.assignments a
        WHERE segment_sizes.segment_ids IS NULL OR a.segment_id OPERATOR(pg_catalog.=) ANY (segment_sizes.segment_ids)
        GROUP BY a.segment_id)
    SELECT s.id, s.name, s.is_automatic, coalesce(c.members, 0)
    FROM segmentation.segments s LEFT JOIN c ON c.segment_id OPERATOR(pg_catalog.=) s.id
    WHERE segment_sizes.segment_ids IS NULL OR s.id OPERATOR(pg_catalog.=) ANY (segment_sizes.segment_ids)
    ORDER BY s.name, s.id;
END
$$;

-- A page of a segment's members in key order, after the key "after" (NULL:
-- the first page). The key may be given as text, bigint or uuid, like every
-- customer argument; customer_id comes back as text, whatever the key type.
CREATE FUNCTION segmentation.segment_members(segment_id bigint, after text DEFAULT NULL, "limit" integer DEFAULT 100)
RETURNS TABLE (customer_id text, is_automatic boolean, assigned_at timestamptz, assigned_by text)
AS 'MODULE_PATHNAME', 'segmentation_segment_members'
LANGUAGE C STABLE ROWS 100 SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.segment_members(segment_id bigint, after bigint, "limit" integer DEFAULT 100)
RETURNS TABLE (customer_id text, is_automatic boolean, assigned_at timestamptz, assigned_by text)
AS 'MODULE_PATHNAME', 'segmentation_segment_members'
LANGUAGE C STABLE ROWS 100 SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.segment_members(segment_id bigint, after uuid, "limit" integer DEFAULT 100)
RETURNS TABLE (customer_id text, is_automatic boolean, assigned_at timestamptz, assigned_by text)
AS 'MODULE_PATHNAME', 'segmentation_segment_members'
LANGUAGE C STABLE ROWS 100 SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- Whether customer_metrics is a Citus table (the cluster layout of
-- docs/citus.md): preview and preview_change then match by id on the
-- coordinator. Citus's catalog is read only where Citus is installed.
CREATE FUNCTION segmentation.metrics_distributed()
RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    distributed boolean := false;
BEGIN
    IF pg_catalog.to_regclass('pg_catalog.pg_dist_partition') IS NOT NULL THEN
        EXECUTE 'SELECT EXISTS (SELECT FROM pg_catalog.pg_dist_partition '
                'WHERE logicalrelid = ''segmentation.customer_metrics''::pg_catalog.regclass)' INTO distributed;
    END IF;
    RETURN distributed;
END
$$;

-- What criteria would do, without writing anything: how many customers
-- match (out of how many), and the first of them in key order.
CREATE FUNCTION segmentation.preview(criteria jsonb, as_of timestamptz DEFAULT pg_catalog.now(),
                                     sample_size integer DEFAULT 10,
                                     OUT matching bigint, OUT customers bigint, OUT sample text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- inSegment, notInSegment and window need the customer's segments and
    -- orders, which a metrics row does not carry: those criteria are matched
    -- by customer id (slower), the others over the row.
    by_customer boolean;
    cluster boolean;
BEGIN
    IF preview.criteria IS NULL OR preview.as_of IS NULL OR preview.sample_size IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'criteria, as_of and sample_size must not be NULL';
    END IF;
    IF preview.sample_size < 0 OR preview.sample_size > 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = pg_catalog.format('preview takes a sample_size from 0 to 1000, not %s', preview.sample_size);
    END IF;
    PERFORM segmentation.check_criteria(preview.criteria);
    by_customer := pg_catalog.jsonb_path_exists(preview.criteria,
        'lax $.** ? (exists(@.inSegment) || exists(@.notInSegment) || exists(@.window))');
    cluster := by_customer AND segmentation.metrics_distributed();
    IF cluster THEN
        -- On Citus, a match by id reads the customer's segments and orders: it
        -- runs here on the coordinator (each call reaches the customer's node),
        -- over the ids gathered first, never inside a query on a shard.
        WITH ids AS MATERIALIZED (SELECT m.customer_id FROM segmentation.customer_metrics m),
             matched AS MATERIALIZED (
                 SELECT ids.customer_id, segmentation.segment_match(ids.customer_id, preview.criteria, preview.as_of) AS holds
                 FROM ids)
        SELECT pg_catalog.count(*) FILTER (WHERE matched.holds), pg_catalog.count(*),
               (ARRAY(SELECT x.customer_id::text FROM matched x WHERE x.holds ORDER BY x.customer_id
                      LIMIT preview.sample_size))
          INTO matching, customers, sample
          FROM matched;
        RETURN;
    END IF;
    SELECT pg_catalog.count(*) FILTER (WHERE CASE WHEN by_customer THEN segmentation.segment_match(m.customer_id, preview.criteria, preview.as_of) ELSE segmentation.segment_match(m, preview.criteria, preview.as_of) END),
           pg_catalog.count(*)
      INTO matching, customers
      FROM segmentation.customer_metrics m;
    sample := ARRAY(SELECT m.customer_id::text FROM segmentation.customer_metrics m
                    WHERE CASE WHEN by_customer THEN segmentation.segment_match(m.customer_id, preview.criteria, preview.as_of) ELSE segmentation.segment_match(m, preview.criteria, preview.as_of) END
                    ORDER BY m.customer_id LIMIT preview.sample_size);
END
$$;

-- What new criteria would do to an automatic segment, without writing
-- anything: the customers who would enter (match, not members now) and
-- leave (members now, no match), counted, and the first of each in key order.
CREATE FUNCTION segmentation.preview_change(segment_id bigint, criteria jsonb,
                                            as_of timestamptz DEFAULT pg_catalog.now(),
                                            sample_size integer DEFAULT 10,
                                            OUT entering bigint, OUT leaving bigint,
                                            OUT entering_sample text[], OUT leaving_sample text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    -- As in preview: some criteria are matched by customer id.
    by_customer boolean := pg_catalog.jsonb_path_exists(preview_change.criteria,
        'lax $.** ? (exists(@.inSegment) || exists(@.notInSegment) || exists(@.window))');
    segment record;
BEGIN
    IF preview_change.segment_id IS NULL OR preview_change.criteria IS NULL OR preview_change.as_of IS NULL
       OR preview_change.sample_size IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'segment_id, criteria, as_of and sample_size must not be NULL';
    END IF;
    IF preview_change.sample_size < 0 OR preview_change.sample_size > 1000 THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = pg_catalog.format('preview_change takes a sample_size from 0 to 1000, not %s',
                                        preview_change.sample_size);
    END IF;
    PERFORM segmentation.check_criteria(preview_change.criteria);
    SELECT s.name, s.is_automatic INTO segment FROM segmentation.segments s WHERE s.id = preview_change.segment_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object',
            MESSAGE = pg_catalog.format('cannot preview a change of segment %s: segment %s does not exist',
                                        preview_change.segment_id, preview_change.segment_id);
    END IF;
    IF NOT segment.is_automatic THEN
        RAISE EXCEPTION USING ERRCODE = 'object_not_in_prerequisite_state',
            MESSAGE = pg_catalog.format('cannot preview a change of segment %s (%I): it is manual',
                                        preview_change.segment_id, segment.name),
            DETAIL = 'Members of manual segments do not follow criteria.';
    END IF;
    IF by_customer AND segmentation.metrics_distributed() THEN
        -- On Citus, as in preview: matches by id run here, over the ids gathered first.
        WITH ids AS MATERIALIZED (SELECT m.customer_id FROM segmentation.customer_metrics m),
             members AS MATERIALIZED (SELECT a.customer_id FROM segmentation.assignments a
                                      WHERE a.segment_id = preview_change.segment_id),
             overridden AS MATERIALIZED (SELECT o.customer_id, o.included FROM segmentation.overrides o
                                         WHERE o.segment_id = preview_change.segment_id),
             matched AS MATERIALIZED (
                 SELECT ids.customer_id, mb.customer_id IS NOT NULL AS member,
                        coalesce(ov.included, segmentation.segment_match(ids.customer_id, preview_change.criteria,
                                                                         preview_change.as_of)) AS holds
                 FROM ids LEFT JOIN members mb ON mb.customer_id = ids.customer_id
                          LEFT JOIN overridden ov ON ov.customer_id = ids.customer_id)
        SELECT pg_catalog.count(*) FILTER (WHERE matched.holds AND NOT matched.member),
               pg_catalog.count(*) FILTER (WHERE matched.member AND NOT matched.holds),
               (ARRAY(SELECT x.customer_id::text FROM matched x WHERE x.holds AND NOT x.member
                      ORDER BY x.customer_id LIMIT preview_change.sample_size)),
               (ARRAY(SELECT x.customer_id::text FROM matched x WHERE x.member AND NOT x.holds
                      ORDER BY x.customer_id LIMIT preview_change.sample_size))
          INTO entering, leaving, entering_sample, leaving_sample
          FROM matched;
        RETURN;
    END IF;
    SELECT pg_catalog.count(*) INTO entering
      FROM segmentation.customer_metrics m
      LEFT JOIN segmentation.overrides o
        ON o.customer_id = m.customer_id AND o.segment_id = preview_change.segment_id
     WHERE coalesce(o.included, CASE WHEN by_customer THEN segmentation.segment_match(m.customer_id, preview_change.criteria, preview_change.as_of) ELSE segmentation.segment_match(m, preview_change.criteria, preview_change.as_of) END)
       AND NOT EXISTS (SELECT FROM segmentation.assignments a
                       WHERE a.customer_id = m.customer_id AND a.segment_id = preview_change.segment_id);
    entering_sample := ARRAY(
        SELECT m.customer_id::text
          FROM segmentation.customer_metrics m
          LEFT JOIN segmentation.overrides o
            ON o.customer_id = m.customer_id AND o.segment_id = preview_change.segment_id
         WHERE coalesce(o.included, CASE WHEN by_customer THEN segmentation.segment_match(m.customer_id, preview_change.criteria, preview_change.as_of) ELSE segmentation.segment_match(m, preview_change.criteria, preview_change.as_of) END)
           AND NOT EXISTS (SELECT FROM segmentation.assignments a
                           WHERE a.customer_id = m.customer_id AND a.segment_id = preview_change.segment_id)
         ORDER BY m.customer_id LIMIT preview_change.sample_size);
    SELECT pg_catalog.count(*) INTO leaving
      FROM segmentation.assignments a
      JOIN segmentation.customer_metrics m ON m.customer_id = a.customer_id
      LEFT JOIN segmentation.overrides o
        ON o.customer_id = a.customer_id AND o.segment_id = a.segment_id
     WHERE a.segment_id = preview_change.segment_id
       AND NOT coalesce(o.included, CASE WHEN by_customer THEN segmentation.segment_match(m.customer_id, preview_change.criteria, preview_change.as_of) ELSE segmentation.segment_match(m, preview_change.criteria, preview_change.as_of) END);
    leaving_sample := ARRAY(
        SELECT a.customer_id::text
          FROM segmentation.assignments a
          JOIN segmentation.customer_metrics m ON m.customer_id = a.customer_id
          LEFT JOIN segmentation.overrides o
            ON o.customer_id = a.customer_id AND o.segment_id = a.segment_id
         WHERE a.segment_id = preview_change.segment_id
           AND NOT coalesce(o.included, CASE WHEN by_customer THEN segmentation.segment_match(m.customer_id, preview_change.criteria, preview_change.as_of) ELSE segmentation.segment_match(m, preview_change.criteria, preview_change.as_of) END)
         ORDER BY a.customer_id LIMIT preview_change.sample_size);
END
$$;

-- Why a customer does or does not match: a JSON tree mirroring the criteria
-- (README, "Explaining a match").
CREATE FUNCTION segmentation.explain_match(customer_id text, criteria jsonb, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS jsonb
AS 'MODULE_PATHNAME', 'segmentation_explain_match_criteria'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.explain_match(customer_id bigint, criteria jsonb, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS jsonb
AS 'MODULE_PATHNAME', 'segmentation_explain_match_criteria'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.explain_match(customer_id uuid, criteria jsonb, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS jsonb
AS 'MODULE_PATHNAME', 'segmentation_explain_match_criteria'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.explain_match(customer_id text, segment_id bigint, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS jsonb
AS 'MODULE_PATHNAME', 'segmentation_explain_match_segment'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.explain_match(customer_id bigint, segment_id bigint, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS jsonb
AS 'MODULE_PATHNAME', 'segmentation_explain_match_segment'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.explain_match(customer_id uuid, segment_id bigint, as_of timestamptz DEFAULT pg_catalog.now())
RETURNS jsonb
AS 'MODULE_PATHNAME', 'segmentation_explain_match_segment'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON FUNCTION
    segmentation.update_segment(bigint, text, jsonb, text),
    segmentation.delete_segment(bigint),
    segmentation.segment_sizes(bigint[]),
    segmentation.segment_members(bigint, text, integer),
    segmentation.segment_members(bigint, bigint, integer),
    segmentation.segment_members(bigint, uuid, integer),
    segmentation.preview(jsonb, timestamptz, integer),
    segmentation.preview_change(bigint, jsonb, timestamptz, integer),
    segmentation.explain_match(text, jsonb, timestamptz),
    segmentation.explain_match(bigint, jsonb, timestamptz),
    segmentation.explain_match(uuid, jsonb, timestamptz),
    segmentation.explain_match(text, bigint, timestamptz),
    segmentation.explain_match(bigint, bigint, timestamptz),
    segmentation.explain_match(uuid, bigint, timestamptz)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    segmentation.segment_sizes(bigint[]),
    segmentation.segment_members(bigint, text, integer),
    segmentation.segment_members(bigint, bigint, integer),
    segmentation.segment_members(bigint, uuid, integer),
    segmentation.preview(jsonb, timestamptz, integer),
    segmentation.preview_change(bigint, jsonb, timestamptz, integer),
    segmentation.explain_match(text, jsonb, timestamptz),
    segmentation.explain_match(bigint, jsonb, timestamptz),
    segmentation.explain_match(uuid, jsonb, timestamptz),
    segmentation.explain_match(text, bigint, timestamptz),
    segmentation.explain_match(bigint, bigint, timestamptz),
    segmentation.explain_match(uuid, bigint, timestamptz)
TO segmentation_viewer;
GRANT EXECUTE ON FUNCTION
    segmentation.update_segment(bigint, text, jsonb, text),
    segmentation.delete_segment(bigint)
TO segmentation_editor;

------------------------------------------------------------------------------
-- Customer attributes (criteria "attributes", issue 13): the attribute
-- columns of the tracked customers table, their values per customer, the
-- function that tracks them, and the planner helpers with the attributes.
-- A 1.0 shop tracks no attributes: its customers' attributes stay NULL.
------------------------------------------------------------------------------

ALTER TABLE segmentation.tracked_tables
    ADD COLUMN attribute_columns name[] CONSTRAINT tracked_tables_attribute_columns_check
                                        CHECK (kind = 'customers' OR attribute_columns IS NULL);
ALTER TABLE segmentation.customer_metrics ADD COLUMN attributes jsonb;

CREATE FUNCTION segmentation.track_customer_attributes(columns name[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_track_customer_attributes'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION segmentation.track_customer_attributes(name[]) FROM PUBLIC;

DROP FUNCTION segmentation.segment_match_values(numeric, bigint, timestamptz, timestamptz, text, jsonb, timestamptz);
DROP FUNCTION segmentation.segment_match_rows(tid, xid, numeric, bigint, timestamptz, timestamptz, text, jsonb, tid,
                                              xid, timestamptz);

CREATE FUNCTION segmentation.segment_match_values(lifetime_value numeric, order_count bigint,
                                                  last_order_at timestamptz, customer_since timestamptz,
                                                  loyalty_level text, attributes jsonb, criteria jsonb,
                                                  as_of timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_values'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segmentation.segment_match_rows(customer_version tid, customer_xmin xid,
                                                lifetime_value numeric, order_count bigint,
                                                last_order_at timestamptz, customer_since timestamptz,
                                                loyalty_level text, attributes jsonb, criteria jsonb,
                                                criteria_version tid, criteria_xmin xid, as_of timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

REVOKE ALL ON FUNCTION
    segmentation.segment_match_values(numeric, bigint, timestamptz, timestamptz, text, jsonb, jsonb, timestamptz),
    segmentation.segment_match_rows(tid, xid, numeric, bigint, timestamptz, timestamptz, text, jsonb, jsonb, tid, xid,
                                    timestamptz)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    segmentation.segment_match_values(numeric, bigint, timestamptz, timestamptz, text, jsonb, jsonb, timestamptz),
    segmentation.segment_match_rows(tid, xid, numeric, bigint, timestamptz, timestamptz, text, jsonb, jsonb, tid, xid,
                                    timestamptz)
TO segmentation_viewer;

------------------------------------------------------------------------------
-- Citus: set-based work shard by shard, per-customer functions on the
-- customer's node (issue 12)
------------------------------------------------------------------------------

-- Citus (docs/citus.md): how the coordinator has work done where the
-- customers are. On a cluster, cluster_tasks becomes a reference table: a row
-- written in it runs its task on every node, shard by shard. cluster_calls is
-- distributed with the customers: a row written in it with a customer runs its
-- call on the node holding that customer, and a row without one holds one
-- shard's results of a task. Rows live only during the function that writes
-- them (not dumped); on one server the tables stay empty.
CREATE TABLE segmentation.cluster_tasks (
    id    bigint NOT NULL,
    task  text NOT NULL,
    as_of      timestamptz NOT NULL,
    actor      text NOT NULL,
    -- The caller's settings that verify's text depends on.
    time_zone  text NOT NULL,
    date_style text NOT NULL
);

CREATE TABLE segmentation.cluster_calls (
    customer_id    bigint,
    id             bigint NOT NULL,
    call           text NOT NULL,
    segment_id     bigint,
    as_of          timestamptz,
    actor          text,
    reason         text,
    ordinal        integer,
    customers      bigint,
    added          bigint,
    removed        bigint,
    added_ids      bigint[],
    removed_ids    bigint[],
    changed        boolean,
    drift_customer text,
    problem        text,
    expected       text,
    actual         text
);

-- Citus: the tasks and calls of segmentation.cluster_tasks and cluster_calls
-- (docs/citus.md), run on the node that holds the rows.
CREATE FUNCTION segmentation.cluster_task_run()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_cluster_task_run'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.cluster_call_run()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_cluster_call_run'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE TRIGGER cluster_task_inserted AFTER INSERT ON segmentation.cluster_tasks
    FOR EACH ROW EXECUTE FUNCTION segmentation.cluster_task_run();
CREATE TRIGGER cluster_call_inserted BEFORE INSERT ON segmentation.cluster_calls
    FOR EACH ROW EXECUTE FUNCTION segmentation.cluster_call_run();

REVOKE ALL ON TABLE segmentation.cluster_tasks, segmentation.cluster_calls FROM PUBLIC;
REVOKE ALL ON FUNCTION segmentation.cluster_task_run(), segmentation.cluster_call_run() FROM PUBLIC;

-- Citus notifications

-- Citus (docs/citus.md, "Notifications on Citus"): membership changes made on
-- a node's shards, waiting for the coordinator to announce them with NOTIFY.
-- Distributed with the customers; every row is written straight into the
-- local shard of the statement's shard group (customer_id stays NULL), tagged
-- with the Citus global process id of the session whose work made it (origin).
-- That session reads and deletes its rows before it commits;
-- deliver_notifications() sends the others. On one server it stays empty.
CREATE TABLE segmentation.notification_outbox (
    customer_id bigint,
    origin      bigint NOT NULL,
    written_at  timestamptz NOT NULL,
    ordinal     bigint NOT NULL,
    -- The customer's id as JSON (a number or a string); NULL in a per-segment summary.
    customer    text,
    segment_id  bigint NOT NULL,
    added       bigint NOT NULL,
    removed     bigint NOT NULL
);

-- Citus: sends the notifications of changes no session announced at its
-- commit (writes made straight on a worker, sessions without the library).
CREATE FUNCTION segmentation.deliver_notifications()
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_deliver_notifications'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

REVOKE ALL ON TABLE segmentation.notification_outbox FROM PUBLIC;
REVOKE ALL ON FUNCTION segmentation.deliver_notifications() FROM PUBLIC;
GRANT SELECT, DELETE ON segmentation.notification_outbox TO segmentation_viewer;
GRANT EXECUTE ON FUNCTION segmentation.deliver_notifications() TO segmentation_editor;

-- Citus: the shard rebalancer (replica identity of the keyless tables)
-- Citus's shard rebalancer moves shards by logical replication by default,
-- which needs a replica identity: these tables have no key (rows without a
-- customer), so the whole row identifies it (they hold rows only briefly).
ALTER TABLE segmentation.cluster_calls REPLICA IDENTITY FULL;
ALTER TABLE segmentation.notification_outbox REPLICA IDENTITY FULL;
ALTER TABLE segmentation.cluster_tasks REPLICA IDENTITY FULL;

------------------------------------------------------------------------------
-- Citus: functions delegated (overrides, segment_members, explain_match,
-- windows, untracking, online changes on Citus; issue 12)
------------------------------------------------------------------------------

-- An online change's step on Citus (segment_change_step) runs as a cluster
-- task: the segment, and the customer after which the step starts.
ALTER TABLE segmentation.cluster_tasks ADD COLUMN segment_id bigint, ADD COLUMN after_customer text;

-- Citus: segment_match(m, ...) and next_change_at(m) on shards' rows
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

REVOKE ALL ON FUNCTION
    segmentation.segment_match(record, jsonb, timestamptz),
    segmentation.next_change_at(record, timestamptz),
    segmentation.metrics_distributed()
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    segmentation.segment_match(record, jsonb, timestamptz),
    segmentation.next_change_at(record, timestamptz),
    segmentation.metrics_distributed()
TO segmentation_viewer;

-- The write path: a customer's automatic segments remembered in its metrics
-- row, with the version of the definitions they hold for, so that an order
-- need not read assignments. NULL until the customer's next order writes
-- them (see customer_metrics in 02_tables.sql).
ALTER TABLE segmentation.customer_metrics
    ADD COLUMN automatic_segments bigint[],
    ADD COLUMN segments_version bigint;

-- The write path: every change to segments, whatever session_replication_role
-- says, drops the compiled definitions, so an order no longer looks at
-- segments once per statement (see 03_extension_table_triggers.sql).
CREATE FUNCTION segmentation.segments_touched()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_segments_touched'
LANGUAGE C;

CREATE TRIGGER segments_touched AFTER INSERT OR UPDATE OR DELETE ON segmentation.segments
    FOR EACH ROW EXECUTE FUNCTION segmentation.segments_touched();
CREATE TRIGGER segments_touched_by_truncate AFTER TRUNCATE ON segmentation.segments
    FOR EACH STATEMENT EXECUTE FUNCTION segmentation.segments_touched();
ALTER TABLE segmentation.segments ENABLE ALWAYS TRIGGER segments_touched;
ALTER TABLE segmentation.segments ENABLE ALWAYS TRIGGER segments_touched_by_truncate;
REVOKE ALL ON FUNCTION segmentation.segments_touched() FROM PUBLIC;

-- The write path: the orders trigger runs as the invoker, without a SET
-- clause; the SQL it runs switches to the owner and pins search_path in C
-- (see orders_changed in 04_tracking.sql).
ALTER FUNCTION segmentation.orders_changed() SECURITY INVOKER RESET ALL;
