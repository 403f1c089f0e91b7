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
