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
