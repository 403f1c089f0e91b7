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
