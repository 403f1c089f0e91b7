\echo Use "ALTER EXTENSION segmentation UPDATE TO '1.1'" to load this file. \quit
-- segmentation 1.0 -> 1.1: the same changes as src/sql/parts/ made since 1.0
-- (src/sql/README.md, "Releasing a version"). test/scripts/upgrade.t checks
-- that this path and a fresh 1.1 install give the same extension.

------------------------------------------------------------------------------
-- criteria-membership: inSegment / notInSegment need no SQL change (the
-- library reads them); overrides of automatic segments: the table, the log's
-- new actions and cause, include_customer / exclude_customer /
-- remove_override, customer_segments' override column, member_counts
-- counting membership actions only.
------------------------------------------------------------------------------

-- Overrides of automatic segments (include_customer, exclude_customer): an
-- included customer is a member whatever the criteria say, an excluded one
-- never is. Written only through those functions and remove_override().
CREATE TABLE segmentation.overrides (
    customer_id text NOT NULL,
    segment_id  bigint NOT NULL,
    included    boolean NOT NULL,
    actor       text,
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (customer_id, segment_id) INCLUDE (included)
);

CREATE INDEX overrides_segment_id_idx ON segmentation.overrides (segment_id);

SELECT pg_catalog.pg_extension_config_dump('segmentation.overrides', '');

-- The keys of overrides follow the others' type (text until tracked).
DO $$
DECLARE
    key_type text := (SELECT pg_catalog.format_type(a.atttypid, a.atttypmod) FROM pg_catalog.pg_attribute a
                      WHERE a.attrelid = 'segmentation.customer_metrics'::pg_catalog.regclass
                        AND a.attname = 'customer_id');
BEGIN
    IF key_type <> 'text' THEN
        EXECUTE pg_catalog.format('ALTER TABLE segmentation.overrides ALTER COLUMN customer_id TYPE %s USING customer_id::text::%s',
                                  key_type, key_type);
    END IF;
END
$$;

ALTER TABLE segmentation.assignment_log
    DROP CONSTRAINT assignment_log_action_check,
    ADD CONSTRAINT assignment_log_action_check
        CHECK (action IN ('added', 'removed', 'included', 'excluded', 'override_removed')),
    DROP CONSTRAINT assignment_log_cause_check,
    ADD CONSTRAINT assignment_log_cause_check
        CHECK (cause IN ('order', 'customer', 'definition', 'time', 'refresh', 'manual', 'override'));

CREATE OR REPLACE FUNCTION segmentation.member_counts(segment_id bigint, "from" timestamptz, "to" timestamptz,
                                           step interval)
RETURNS TABLE (at timestamptz, members bigint)
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF segment_id IS NULL OR "from" IS NULL OR "to" IS NULL OR step IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed',
            MESSAGE = 'segment_id, from, to and step must not be NULL';
    END IF;
    IF NOT isfinite("from") OR NOT isfinite("to") OR "from" > "to" THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'member_counts needs finite instants, with "from" no later than "to"';
    END IF;
    IF step <= interval '0' OR "from" + step <= "from" THEN
        RAISE EXCEPTION USING ERRCODE = 'invalid_parameter_value',
            MESSAGE = 'member_counts needs a positive step';
    END IF;
    IF extract(epoch FROM "to" - "from") / extract(epoch FROM ("from" + step) - "from") > 100000 THEN
        RAISE EXCEPTION USING ERRCODE = 'program_limit_exceeded',
            MESSAGE = 'member_counts returns at most 100,000 instants; use a longer step';
    END IF;
    RETURN QUERY
    WITH changes AS MATERIALIZED (
        SELECT l.logged_at, l.id,
               sum(CASE l.action WHEN 'added' THEN 1 WHEN 'removed' THEN -1 ELSE 0 END) OVER (ORDER BY l.logged_at, l.id) AS members
        FROM segmentation.assignment_log l
        WHERE l.segment_id = member_counts.segment_id AND l.logged_at <= member_counts."to"
    )
    SELECT t.at, coalesce((SELECT c.members FROM changes c WHERE c.logged_at <= t.at
                           ORDER BY c.logged_at DESC, c.id DESC LIMIT 1), 0)::bigint
    FROM pg_catalog.generate_series(member_counts."from", member_counts."to", member_counts.step) AS t(at);
END
$$;

DROP FUNCTION segmentation.customer_segments(text);
DROP FUNCTION segmentation.customer_segments(bigint);
DROP FUNCTION segmentation.customer_segments(uuid);
CREATE FUNCTION segmentation.customer_segments(customer_id text)
RETURNS TABLE (segment_id bigint, name text, criteria jsonb, is_automatic boolean,
               assigned_at timestamptz, assigned_by text, override text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.customer_segments(customer_id bigint)
RETURNS TABLE (segment_id bigint, name text, criteria jsonb, is_automatic boolean,
               assigned_at timestamptz, assigned_by text, override text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.customer_segments(customer_id uuid)
RETURNS TABLE (segment_id bigint, name text, criteria jsonb, is_automatic boolean,
               assigned_at timestamptz, assigned_by text, override text)
AS 'MODULE_PATHNAME', 'segmentation_customer_segments'
LANGUAGE C STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

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

REVOKE ALL ON FUNCTION
    segmentation.customer_segments(text), segmentation.customer_segments(bigint),
    segmentation.customer_segments(uuid),
    segmentation.include_customer(text, bigint, text), segmentation.include_customer(bigint, bigint, text),
    segmentation.include_customer(uuid, bigint, text),
    segmentation.exclude_customer(text, bigint, text), segmentation.exclude_customer(bigint, bigint, text),
    segmentation.exclude_customer(uuid, bigint, text),
    segmentation.remove_override(text, bigint, text), segmentation.remove_override(bigint, bigint, text),
    segmentation.remove_override(uuid, bigint, text)
FROM PUBLIC;
REVOKE ALL ON segmentation.overrides FROM PUBLIC;
GRANT SELECT ON segmentation.overrides TO segmentation_viewer;
GRANT EXECUTE ON FUNCTION
    segmentation.customer_segments(text), segmentation.customer_segments(bigint),
    segmentation.customer_segments(uuid)
TO segmentation_viewer;
GRANT EXECUTE ON FUNCTION
    segmentation.include_customer(text, bigint, text), segmentation.include_customer(bigint, bigint, text),
    segmentation.include_customer(uuid, bigint, text),
    segmentation.exclude_customer(text, bigint, text), segmentation.exclude_customer(bigint, bigint, text),
    segmentation.exclude_customer(uuid, bigint, text),
    segmentation.remove_override(text, bigint, text), segmentation.remove_override(bigint, bigint, text),
    segmentation.remove_override(uuid, bigint, text)
TO segmentation_editor;

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
