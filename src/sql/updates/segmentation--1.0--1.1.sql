\echo Use "ALTER EXTENSION segmentation UPDATE TO '1.1'" to load this file. \quit
-- segmentation 1.0 -> 1.1: the same changes as src/sql/parts/ made since 1.0
-- (src/sql/README.md, "Releasing a version"). test/scripts/upgrade.t checks
-- that this path and a fresh 1.1 install give the same extension.


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

-- Member counts: one index-only count per segment (assignments_segment_id_idx).
CREATE FUNCTION segmentation.segment_sizes(segment_ids bigint[] DEFAULT NULL)
RETURNS TABLE (segment_id bigint, name text, is_automatic boolean, members bigint)
LANGUAGE sql STABLE ROWS 20
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.id, s.name, s.is_automatic,
           (SELECT pg_catalog.count(*) FROM segmentation.assignments a WHERE a.segment_id = s.id)
    FROM segmentation.segments s
    WHERE segment_sizes.segment_ids IS NULL OR s.id OPERATOR(pg_catalog.=) ANY (segment_sizes.segment_ids)
    ORDER BY s.name, s.id
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

-- What criteria would do, without writing anything: how many customers
-- match (out of how many), and the first of them in key order.
CREATE FUNCTION segmentation.preview(criteria jsonb, as_of timestamptz DEFAULT pg_catalog.now(),
                                     sample_size integer DEFAULT 10,
                                     OUT matching bigint, OUT customers bigint, OUT sample text[])
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
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
    SELECT pg_catalog.count(*) FILTER (WHERE segmentation.segment_match(m, preview.criteria, preview.as_of)),
           pg_catalog.count(*)
      INTO matching, customers
      FROM segmentation.customer_metrics m;
    sample := ARRAY(SELECT m.customer_id::text FROM segmentation.customer_metrics m
                    WHERE segmentation.segment_match(m, preview.criteria, preview.as_of)
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
    SELECT pg_catalog.count(*) INTO entering
      FROM segmentation.customer_metrics m
     WHERE segmentation.segment_match(m, preview_change.criteria, preview_change.as_of)
       AND NOT EXISTS (SELECT FROM segmentation.assignments a
                       WHERE a.customer_id = m.customer_id AND a.segment_id = preview_change.segment_id);
    entering_sample := ARRAY(
        SELECT m.customer_id::text FROM segmentation.customer_metrics m
         WHERE segmentation.segment_match(m, preview_change.criteria, preview_change.as_of)
           AND NOT EXISTS (SELECT FROM segmentation.assignments a
                           WHERE a.customer_id = m.customer_id AND a.segment_id = preview_change.segment_id)
         ORDER BY m.customer_id LIMIT preview_change.sample_size);
    SELECT pg_catalog.count(*) INTO leaving
      FROM segmentation.assignments a JOIN segmentation.customer_metrics m ON m.customer_id = a.customer_id
     WHERE a.segment_id = preview_change.segment_id
       AND NOT segmentation.segment_match(m, preview_change.criteria, preview_change.as_of);
    leaving_sample := ARRAY(
        SELECT a.customer_id::text
          FROM segmentation.assignments a JOIN segmentation.customer_metrics m ON m.customer_id = a.customer_id
         WHERE a.segment_id = preview_change.segment_id
           AND NOT segmentation.segment_match(m, preview_change.criteria, preview_change.as_of)
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
