------------------------------------------------------------------------------
-- PRIVATE: planner-only helpers. Not API: not documented, no compatibility
-- promise, may change or go in any release (upgrade scripts may DROP them).
-- Nothing calls them but the plans that segment_match_support writes.
--
-- They stay in schema segmentation under their names: plans and EXPLAIN
-- output show them (sql/planning.sql), and the support function builds its
-- calls by these names. segment_match_support must exist before the public
-- segment_match(customer_metrics, ...) that names it, hence this section
-- comes before "Matching". Their EXECUTE grant is in the privileges section.
------------------------------------------------------------------------------

-- What the planner turns segment_match(m, criteria) into when m is a row of
-- segmentation.customer_metrics (see "Matching in queries" in the README):
-- the row's columns instead of a copy of the whole row, and, for a constant
-- criteria, plain comparisons plus these exact clock helpers.
CREATE FUNCTION segmentation.segment_match_values(lifetime_value numeric, order_count bigint,
                                                  last_order_at timestamptz, customer_since timestamptz,
                                                  loyalty_level text, attributes jsonb, criteria jsonb,
                                                  as_of timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_values'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

-- The same with the criteria of a segmentation.segments row (a join of
-- customers with segments), both rows' versions (ctid, xmin) alongside.
CREATE FUNCTION segmentation.segment_match_rows(customer_version tid, customer_xmin xid,
                                                lifetime_value numeric, order_count bigint,
                                                last_order_at timestamptz, customer_since timestamptz,
                                                loyalty_level text, attributes jsonb, criteria jsonb,
                                                criteria_version tid, criteria_xmin xid, as_of timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segmentation.elapsed_at_least(since timestamptz, as_of timestamptz, micros bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_elapsed_at_least'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segmentation.elapsed_at_most(since timestamptz, as_of timestamptz, micros bigint)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_elapsed_at_most'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segmentation.frequency_at_least(order_count bigint, customer_since timestamptz,
                                                as_of timestamptz, threshold numeric)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_frequency_at_least'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segmentation.frequency_at_most(order_count bigint, customer_since timestamptz,
                                               as_of timestamptz, threshold numeric)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_frequency_at_most'
LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE FUNCTION segmentation.segment_match_support(internal)
RETURNS internal
AS 'MODULE_PATHNAME', 'segmentation_segment_match_support'
LANGUAGE C STRICT;
