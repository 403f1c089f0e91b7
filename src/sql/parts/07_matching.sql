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
-- anything: the customers who would enter (members then, not now) and
-- leave (members now, not then), counted, and the first of each in key
-- order. A customer's override of the segment decides over the criteria, as
-- in every evaluation: coalesce(o.included, <match>).
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
