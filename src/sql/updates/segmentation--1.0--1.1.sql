\echo Use "ALTER EXTENSION segmentation UPDATE TO '1.1'" to load this file. \quit
-- segmentation 1.0 -> 1.1: the same changes as src/sql/parts/ made since 1.0
-- (src/sql/README.md, "Releasing a version"). test/scripts/upgrade.t checks
-- that this path and a fresh 1.1 install give the same extension.

------------------------------------------------------------------------------
-- Customer attributes (criteria "attributes", issue 13): the attribute
-- columns of the tracked customers table, their values per customer, the
-- function that tracks them, and the planner helpers with the attributes.
-- A 1.0 shop tracks no attributes: its customers' attributes stay NULL.
------------------------------------------------------------------------------

ALTER TABLE segmentation.tracked_tables
    ADD COLUMN attribute_columns name[] CONSTRAINT tracked_tables_attribute_columns_check
                                        CHECK (kind = 'customers' OR attribute_columns IS NULL);
ALTER TABLE segmentation.customer_metrics ADD COLUMN attributes jsonb;

CREATE FUNCTION segmentation.track_customer_attributes(columns name[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_track_customer_attributes'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION segmentation.track_customer_attributes(name[]) FROM PUBLIC;

DROP FUNCTION segmentation.segment_match_values(numeric, bigint, timestamptz, timestamptz, text, jsonb, timestamptz);
DROP FUNCTION segmentation.segment_match_rows(tid, xid, numeric, bigint, timestamptz, timestamptz, text, jsonb, tid,
                                              xid, timestamptz);

CREATE FUNCTION segmentation.segment_match_values(lifetime_value numeric, order_count bigint,
                                                  last_order_at timestamptz, customer_since timestamptz,
                                                  loyalty_level text, attributes jsonb, criteria jsonb,
                                                  as_of timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_values'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

CREATE FUNCTION segmentation.segment_match_rows(customer_version tid, customer_xmin xid,
                                                lifetime_value numeric, order_count bigint,
                                                last_order_at timestamptz, customer_since timestamptz,
                                                loyalty_level text, attributes jsonb, criteria jsonb,
                                                criteria_version tid, criteria_xmin xid, as_of timestamptz)
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_segment_match_rows'
LANGUAGE C IMMUTABLE PARALLEL SAFE;

REVOKE ALL ON FUNCTION
    segmentation.segment_match_values(numeric, bigint, timestamptz, timestamptz, text, jsonb, jsonb, timestamptz),
    segmentation.segment_match_rows(tid, xid, numeric, bigint, timestamptz, timestamptz, text, jsonb, jsonb, tid, xid,
                                    timestamptz)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    segmentation.segment_match_values(numeric, bigint, timestamptz, timestamptz, text, jsonb, jsonb, timestamptz),
    segmentation.segment_match_rows(tid, xid, numeric, bigint, timestamptz, timestamptz, text, jsonb, jsonb, tid, xid,
                                    timestamptz)
TO segmentation_viewer;
