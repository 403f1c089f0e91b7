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
               assigned_at timestamptz, assigned_by text, override text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE ROWS 5 SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.customer_segments(customer_id bigint)
RETURNS TABLE (segment_id bigint, name text, criteria jsonb, is_automatic boolean,
               assigned_at timestamptz, assigned_by text, override text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE ROWS 5 SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.customer_segments(customer_id uuid)
RETURNS TABLE (segment_id bigint, name text, criteria jsonb, is_automatic boolean,
               assigned_at timestamptz, assigned_by text, override text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE ROWS 5 SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

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
