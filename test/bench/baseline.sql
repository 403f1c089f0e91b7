-- The benchmark's baseline: the extension's semantics in plain SQL and
-- PL/pgSQL, as an application would write them without the extension.
--
--   psql -v keytype=bigint -f test/bench/baseline.sql     (or text, uuid)
--
-- Run it in a database whose shop (shop.customers, shop.orders) exists and
-- whose segmentation extension is created (baseline.matches has an overload
-- for segmentation.customer_metrics rows, for comparing with segment_match).
-- It creates schema baseline with:
--
--   orders             its own copy of shop.orders (same rows, indexes and
--                      foreign key), so that its row trigger can be measured
--                      on the same data as the extension's tracking
--   segments           a copy of the segment definitions (id, criteria, ...)
--   assignments, assignment_log   like the extension's, with the same indexes
--   customer_metrics   a view: the metrics, aggregated from the orders
--   match_values(...)  the criteria semantics of the README as one SQL
--                      expression over jsonb operators; matches(row, criteria,
--                      as_of) for baseline and segmentation metrics rows.
--                      Attributes: the two columns the benchmark adds to its
--                      shop, country (text) and birth_date (date), kept as
--                      the extension keeps them (a jsonb object, the date as
--                      seconds since 1970-01-01 UTC, NULL columns left out)
--   assign(customer)   PL/pgSQL, like assign_automatic_segments()
--   refresh()          set-based, like refresh_all(): aggregate the orders,
--                      evaluate every customer against every automatic
--                      segment (a cross join), diff against the assignments,
--                      insert, delete, log and notify
--   orders_changed     the row trigger on baseline.orders that calls assign()
--                      for the customers an order statement touches; skipped
--                      while the setting baseline.live is 'off' (the analogue
--                      of segmentation.set_live_evaluation(table, false))
--
-- Only flat criteria (no all/any/not, no inSegment/notInSegment, attributes
-- country and birth_date only) are supported: the benchmark's segments are
-- flat, and set-up checks that.
\set ON_ERROR_STOP on
\if :{?keytype}
\else
\set keytype bigint
\endif
SET client_min_messages = warning;
DROP SCHEMA IF EXISTS baseline CASCADE;
RESET client_min_messages;
CREATE SCHEMA baseline;

------------------------------------------------------------------------------
-- Tables
------------------------------------------------------------------------------

CREATE TABLE baseline.orders (LIKE shop.orders INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS);
INSERT INTO baseline.orders OVERRIDING SYSTEM VALUE SELECT * FROM shop.orders;
SELECT setval(pg_get_serial_sequence('baseline.orders', 'id'), (SELECT max(id) FROM baseline.orders));
ALTER TABLE baseline.orders ADD PRIMARY KEY (id);
CREATE INDEX ON baseline.orders (customer_id);
ALTER TABLE baseline.orders ADD FOREIGN KEY (customer_id) REFERENCES shop.customers;

CREATE TABLE baseline.segments (
    id           bigint PRIMARY KEY,
    name         text NOT NULL UNIQUE,
    criteria     jsonb NOT NULL,
    is_automatic boolean NOT NULL
);

CREATE TABLE baseline.assignments (
    customer_id  :keytype NOT NULL,
    segment_id   bigint NOT NULL,
    is_automatic boolean NOT NULL,
    assigned_at  timestamptz NOT NULL DEFAULT now(),
    assigned_by  text,
    PRIMARY KEY (customer_id, segment_id)
);
CREATE INDEX ON baseline.assignments (segment_id);

CREATE TABLE baseline.assignment_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  :keytype NOT NULL,
    segment_id   bigint NOT NULL,
    action       text NOT NULL CHECK (action IN ('added', 'removed')),
    is_automatic boolean NOT NULL,
    cause        text NOT NULL,
    logged_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ON baseline.assignment_log (segment_id, logged_at);
CREATE INDEX ON baseline.assignment_log (customer_id, logged_at);

-- The shop's attributes as the extension keeps them in
-- customer_metrics.attributes.
CREATE FUNCTION baseline.attributes_of(country text, birth_date date)
RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT jsonb_strip_nulls(jsonb_build_object('country', country,
                                                  'birth_date', (birth_date - date '1970-01-01') * 86400)) $$;

-- The README's metrics: every customer of shop.customers, with the sum,
-- count and first/last time of their orders (an order's NULL amount counts,
-- as 0). A WHERE on customer_id is pushed into the grouping.
CREATE VIEW baseline.customer_metrics AS
SELECT c.id                           AS customer_id,
       coalesce(sum(o.amount), 0)     AS lifetime_value,
       count(o.customer_id)           AS order_count,
       min(o.ordered_at)              AS first_order_at,
       max(o.ordered_at)              AS last_order_at,
       c.created_at                   AS customer_since,
       c.loyalty_level::text          AS loyalty_level,
       baseline.attributes_of(c.country, c.birth_date) AS attributes
FROM shop.customers c
LEFT JOIN baseline.orders o ON o.customer_id = c.id
GROUP BY c.id;

------------------------------------------------------------------------------
-- Matching
------------------------------------------------------------------------------

-- Whether a text attribute's value v (a jsonb string, or NULL) passes tests
-- t (NULL: not tested): equals, in, isNull.
CREATE FUNCTION baseline.text_holds(v jsonb, t jsonb)
RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$
SELECT t IS NULL
    OR ((t->'isNull' IS NULL OR (t->'isNull' = 'true') = (v IS NULL))
        AND (t->'equals' IS NULL OR (v IS NOT NULL AND v = t->'equals'))
        AND (t->'in' IS NULL OR (v IS NOT NULL AND t->'in' @> v)))
$$;

-- Whether a time attribute's value v (seconds since 1970-01-01 UTC, or
-- NULL) passes tests t (NULL: not tested): min, max (times written without
-- an offset, which are UTC), isNull.
CREATE FUNCTION baseline.time_holds(v jsonb, t jsonb)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT t IS NULL
    OR ((t->'isNull' IS NULL OR (t->'isNull' = 'true') = (v IS NULL))
        AND (t->'min' IS NULL
             OR (jsonb_typeof(v) = 'number'
                 AND v::numeric >= extract(epoch FROM (t->>'min')::timestamp AT TIME ZONE 'UTC')))
        AND (t->'max' IS NULL
             OR (jsonb_typeof(v) = 'number'
                 AND v::numeric <= extract(epoch FROM (t->>'max')::timestamp AT TIME ZONE 'UTC'))))
$$;

-- Whether a customer with these metrics matches flat criteria c at as_of.
-- Bounds are inclusive; a bound on a metric without a value never matches;
-- {} matches everyone. Exact like the extension: money and counts in
-- numeric, durations in microseconds (extract(epoch ...) is numeric), the
-- average as value >= bound * count, the frequency as
-- orders * 30 * 86400 >= bound * max(tenure seconds, 86400).
-- Attributes: text_holds and time_holds for the shop's two attributes.
-- One SQL expression, so the planner inlines it into the calling query
-- (STABLE, not IMMUTABLE: reading a time as a timestamp depends on the
-- session's settings, and an IMMUTABLE function calling it is not inlined).
CREATE FUNCTION baseline.match_values(lifetime_value numeric, order_count bigint, last_order_at timestamptz,
                                      customer_since timestamptz, loyalty_level text, attributes jsonb,
                                      c jsonb, as_of timestamptz)
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT (c->'minLifetimeValue' IS NULL OR lifetime_value >= (c->>'minLifetimeValue')::numeric)
   AND (c->'maxLifetimeValue' IS NULL OR lifetime_value <= (c->>'maxLifetimeValue')::numeric)
   AND (c->'minOrders' IS NULL OR order_count >= (c->>'minOrders')::numeric)
   AND (c->'maxOrders' IS NULL OR order_count <= (c->>'maxOrders')::numeric)
   AND (c->'minAverageOrderValue' IS NULL
        OR (order_count > 0 AND lifetime_value >= (c->>'minAverageOrderValue')::numeric * order_count))
   AND (c->'maxAverageOrderValue' IS NULL
        OR (order_count > 0 AND lifetime_value <= (c->>'maxAverageOrderValue')::numeric * order_count))
   AND (c->'minDaysSinceLastPurchase' IS NULL
        OR (last_order_at IS NOT NULL
            AND extract(epoch FROM as_of - last_order_at) >= (c->>'minDaysSinceLastPurchase')::numeric * 86400))
   AND (c->'maxDaysSinceLastPurchase' IS NULL
        OR (last_order_at IS NOT NULL
            AND extract(epoch FROM as_of - last_order_at) <= (c->>'maxDaysSinceLastPurchase')::numeric * 86400))
   AND (c->'minTenureDays' IS NULL
        OR (customer_since IS NOT NULL
            AND extract(epoch FROM as_of - customer_since) >= (c->>'minTenureDays')::numeric * 86400))
   AND (c->'maxTenureDays' IS NULL
        OR (customer_since IS NOT NULL
            AND extract(epoch FROM as_of - customer_since) <= (c->>'maxTenureDays')::numeric * 86400))
   AND (c->'minPurchaseFrequency' IS NULL
        OR (customer_since IS NOT NULL
            AND order_count * 2592000::numeric
                >= (c->>'minPurchaseFrequency')::numeric
                   * greatest(extract(epoch FROM as_of - customer_since), 86400)))
   AND (c->'maxPurchaseFrequency' IS NULL
        OR (customer_since IS NOT NULL
            AND order_count * 2592000::numeric
                <= (c->>'maxPurchaseFrequency')::numeric
                   * greatest(extract(epoch FROM as_of - customer_since), 86400)))
   AND (c->'loyaltyLevels' IS NULL OR (loyalty_level IS NOT NULL AND c->'loyaltyLevels' ? loyalty_level))
   AND baseline.text_holds(attributes->'country', c->'attributes'->'country')
   AND baseline.time_holds(attributes->'birth_date', c->'attributes'->'birth_date')
$$;

CREATE FUNCTION baseline.matches(m baseline.customer_metrics, c jsonb, as_of timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT baseline.match_values(m.lifetime_value, m.order_count, m.last_order_at, m.customer_since,
                                   m.loyalty_level, m.attributes, c, as_of) $$;

-- The same over the extension's metrics rows: the jsonb-expression
-- equivalent of segmentation.segment_match(m, criteria).
CREATE FUNCTION baseline.matches(m segmentation.customer_metrics, c jsonb, as_of timestamptz DEFAULT now())
RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT baseline.match_values(m.lifetime_value, m.order_count, m.last_order_at, m.customer_since,
                                   m.loyalty_level, m.attributes, c, as_of) $$;

------------------------------------------------------------------------------
-- Assigning one customer
------------------------------------------------------------------------------

-- Like segmentation.assign_automatic_segments(customer): the customer is
-- locked, their metrics aggregated from their orders, every automatic
-- segment evaluated; matching segments are added and automatic assignments
-- that no longer match removed (manual ones are never touched), each change
-- logged, and one notification sent if anything changed.
CREATE FUNCTION baseline.assign(customer :keytype, as_of timestamptz DEFAULT now(), cause text DEFAULT 'refresh',
                                OUT added bigint[], OUT removed bigint[])
LANGUAGE plpgsql
AS $$
DECLARE
    m baseline.customer_metrics;
BEGIN
    IF customer IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'null_value_not_allowed', MESSAGE = 'customer id must not be NULL';
    END IF;
    -- Concurrent evaluations of one customer serialize.
    PERFORM pg_advisory_xact_lock(hashtext(customer::text));
    SELECT * INTO m FROM baseline.customer_metrics cm WHERE cm.customer_id = customer;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = 'undefined_object', MESSAGE = format('customer "%s" does not exist', customer);
    END IF;
    WITH want AS (
        SELECT s.id FROM baseline.segments s
        WHERE s.is_automatic AND baseline.matches(m, s.criteria, as_of)
    ), ins AS (
        INSERT INTO baseline.assignments (customer_id, segment_id, is_automatic)
        SELECT customer, w.id, true FROM want w
        WHERE NOT EXISTS (SELECT 1 FROM baseline.assignments a WHERE a.customer_id = customer AND a.segment_id = w.id)
        RETURNING segment_id
    ), del AS (
        DELETE FROM baseline.assignments a
        WHERE a.customer_id = customer AND a.is_automatic AND a.segment_id NOT IN (SELECT id FROM want)
        RETURNING a.segment_id
    ), logged AS (
        INSERT INTO baseline.assignment_log (customer_id, segment_id, action, is_automatic, cause)
        SELECT customer, segment_id, 'added', true, assign.cause FROM ins
        UNION ALL
        SELECT customer, segment_id, 'removed', true, assign.cause FROM del
    )
    SELECT coalesce((SELECT array_agg(segment_id ORDER BY segment_id) FROM ins), '{}'),
           coalesce((SELECT array_agg(segment_id ORDER BY segment_id) FROM del), '{}')
    INTO added, removed;
    IF cardinality(added) > 0 OR cardinality(removed) > 0 THEN
        PERFORM pg_notify('baseline_changed',
                          json_build_object('customer_id', customer, 'added', added, 'removed', removed)::text);
    END IF;
END
$$;

------------------------------------------------------------------------------
-- Refreshing everyone, set-based
------------------------------------------------------------------------------

-- Like segmentation.refresh_all(): one statement. The orders are aggregated
-- first (one pass, grouped by customer), joined to the customers, evaluated
-- against every automatic segment, and the result diffed against the
-- automatic assignments with a full join.
CREATE FUNCTION baseline.refresh(as_of timestamptz DEFAULT now(),
                                 OUT customers bigint, OUT added bigint, OUT removed bigint)
LANGUAGE sql
AS $$
WITH totals AS (
    SELECT customer_id, sum(amount) AS lifetime_value, count(*) AS order_count, max(ordered_at) AS last_order_at
    FROM baseline.orders
    GROUP BY customer_id
), metrics AS MATERIALIZED (
    SELECT c.id AS customer_id, coalesce(t.lifetime_value, 0) AS lifetime_value,
           coalesce(t.order_count, 0) AS order_count, t.last_order_at,
           c.created_at AS customer_since, c.loyalty_level::text AS loyalty_level,
           baseline.attributes_of(c.country, c.birth_date) AS attributes
    FROM shop.customers c
    LEFT JOIN totals t ON t.customer_id = c.id
), wanted AS (
    SELECT m.customer_id, s.id AS segment_id
    FROM metrics m
    CROSS JOIN baseline.segments s
    WHERE s.is_automatic
      AND baseline.match_values(m.lifetime_value, m.order_count, m.last_order_at, m.customer_since,
                                m.loyalty_level, m.attributes, s.criteria, as_of)
), diff AS MATERIALIZED (
    SELECT coalesce(w.customer_id, a.customer_id) AS customer_id,
           coalesce(w.segment_id, a.segment_id) AS segment_id,
           a.customer_id IS NULL AS add
    FROM wanted w
    FULL JOIN (SELECT customer_id, segment_id FROM baseline.assignments WHERE is_automatic) a
           ON a.customer_id = w.customer_id AND a.segment_id = w.segment_id
    WHERE w.customer_id IS NULL OR a.customer_id IS NULL
), ins AS (
    INSERT INTO baseline.assignments (customer_id, segment_id, is_automatic)
    SELECT customer_id, segment_id, true FROM diff WHERE add
    RETURNING customer_id, segment_id
), del AS (
    DELETE FROM baseline.assignments a USING diff d
    WHERE NOT d.add AND a.customer_id = d.customer_id AND a.segment_id = d.segment_id
    RETURNING a.customer_id, a.segment_id
), logged AS (
    INSERT INTO baseline.assignment_log (customer_id, segment_id, action, is_automatic, cause)
    SELECT customer_id, segment_id, 'added', true, 'refresh' FROM ins
    UNION ALL
    SELECT customer_id, segment_id, 'removed', true, 'refresh' FROM del
), notified AS (
    SELECT pg_notify('baseline_changed',
                     json_build_object('customer_id', customer_id, 'added', added, 'removed', removed)::text)
    FROM (SELECT customer_id,
                 coalesce(array_agg(segment_id ORDER BY segment_id) FILTER (WHERE add), '{}') AS added,
                 coalesce(array_agg(segment_id ORDER BY segment_id) FILTER (WHERE NOT add), '{}') AS removed
          FROM diff GROUP BY customer_id) per_customer
)
SELECT (SELECT count(*) FROM metrics), (SELECT count(*) FROM ins), (SELECT count(*) FROM del)
FROM (SELECT count(*) FROM notified) n
$$;

------------------------------------------------------------------------------
-- The row trigger
------------------------------------------------------------------------------

CREATE FUNCTION baseline.orders_changed()
RETURNS trigger
LANGUAGE plpgsql
AS $$
BEGIN
    IF current_setting('baseline.live', true) = 'off' THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.customer_id IS NOT NULL
       AND EXISTS (SELECT 1 FROM shop.customers WHERE id = OLD.customer_id) THEN
        PERFORM baseline.assign(OLD.customer_id, now(), 'order');
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.customer_id IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.customer_id IS DISTINCT FROM OLD.customer_id
            OR NEW.amount IS DISTINCT FROM OLD.amount OR NEW.ordered_at IS DISTINCT FROM OLD.ordered_at)
       AND EXISTS (SELECT 1 FROM shop.customers WHERE id = NEW.customer_id) THEN
        PERFORM baseline.assign(NEW.customer_id, now(), 'order');
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER orders_changed AFTER INSERT OR UPDATE OR DELETE ON baseline.orders
    FOR EACH ROW EXECUTE FUNCTION baseline.orders_changed();

------------------------------------------------------------------------------
-- Populating it from the extension's segment definitions
------------------------------------------------------------------------------

-- Copies the segment definitions and the manual assignments from the
-- extension (the same ids, so memberships compare directly), then refreshes.
CREATE FUNCTION baseline.sync_from_extension()
RETURNS void
LANGUAGE plpgsql
AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM segmentation.segments
               WHERE criteria ?| ARRAY['all', 'any', 'not', 'inSegment', 'notInSegment']
                  OR coalesce(criteria->'attributes', '{}') - 'country' - 'birth_date' <> '{}') THEN
        RAISE EXCEPTION 'the baseline evaluates flat criteria only (no all/any/not/inSegment/notInSegment; attributes: country, birth_date)';
    END IF;
    DELETE FROM baseline.assignments;
    DELETE FROM baseline.segments;
    INSERT INTO baseline.segments (id, name, criteria, is_automatic)
    SELECT id, name, criteria, is_automatic FROM segmentation.segments;
    INSERT INTO baseline.assignments (customer_id, segment_id, is_automatic, assigned_at, assigned_by)
    SELECT customer_id, segment_id, false, assigned_at, assigned_by FROM segmentation.assignments WHERE NOT is_automatic;
    PERFORM baseline.refresh();
END
$$;
