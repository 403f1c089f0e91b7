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
