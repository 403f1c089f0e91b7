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
        IF name IS NULL OR name OPERATOR(pg_catalog.!~) '[^[:space:]]' THEN
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
