------------------------------------------------------------------------------
-- Segments
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.create_segment(name text, criteria jsonb, is_automatic boolean,
                                            description text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_create_segment'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- ROWS: a shop has tens of segments, not the default 1,000 (which made plans
-- joining this with counts expensive enough for the JIT).
CREATE FUNCTION segmentation.get_all_segments()
RETURNS SETOF segmentation.segments
LANGUAGE sql STABLE ROWS 20
SET search_path = pg_catalog, pg_temp
AS $$ SELECT * FROM segmentation.segments ORDER BY name $$;

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
------------------------------------------------------------------------------
-- Changing segments online (README "Changing segments online"): procedures
-- that commit as they go, like CREATE INDEX CONCURRENTLY, so order writes
-- never wait for a whole re-evaluation. Each takes the definitions lock
-- exclusively, briefly, to put the change in force for every evaluator, and
-- again to complete a creation or redefinition (a deletion completes with it
-- shared). In between, steps (up to 5,000 customers looked at, 250 moved;
-- or 2,500 members of a segment being deleted removed) each commit on
-- their own.
------------------------------------------------------------------------------

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
