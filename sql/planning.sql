-- segment_match(m, criteria) over segmentation.customer_metrics is rewritten
-- by the planner: constant criteria into plain comparisons over m's columns,
-- other criteria into segment_match_values(columns..., criteria, as_of).
-- Every form must give segment_match's own answers; forms the rewrite
-- cannot prove equivalent are left alone.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;  -- stable plans

-- Customers at the edges: no orders, NULL loyalty, refunds, fractional
-- money, a long loyalty level, and times either side of each bound.
CREATE TABLE plan_customers (id bigint PRIMARY KEY, created_at timestamptz, tier text);
CREATE TABLE plan_orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint, amount numeric, ordered_at timestamptz);
INSERT INTO plan_customers
SELECT g, '2026-01-01'::timestamptz - (g % 50) * interval '7 days 3 hours' - (g % 7) * interval '1 minute',
       (ARRAY['GOLD', 'SILVER', NULL, 'PLATINUM', 'BRONZE', repeat('LONG', 40)])[1 + g % 6]
FROM generate_series(1, 600) g;
INSERT INTO plan_orders (customer_id, amount, ordered_at)
SELECT c.id, round((c.id % 97) * 13.37 - 200 * (o % 5 = 0)::int, (c.id % 4)::int) + (c.id % 3) * 0.000000000000000000001,
       '2026-01-01'::timestamptz - (c.id % 40) * interval '5 days 1 hour' - o * interval '3 days'
FROM plan_customers c, generate_series(1, 12) o
WHERE o <= c.id % 13;  -- ids divisible by 13 have no orders
SELECT segmentation.track_customers('plan_customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('plan_orders', 'customer_id', 'amount', 'ordered_at');

CREATE TABLE plan_criteria (id int PRIMARY KEY, criteria jsonb NOT NULL);
INSERT INTO plan_criteria VALUES
    (1, '{}'),
    (2, '{"minLifetimeValue": 1000, "minOrders": 5, "loyaltyLevels": ["GOLD", "PLATINUM"]}'),
    (3, '{"minDaysSinceLastPurchase": 90, "maxPurchaseFrequency": 0.5}'),
    (4, '{"maxTenureDays": 30, "minOrders": 1}'),
    (5, '{"maxLifetimeValue": 100.5, "minLifetimeValue": 0.000000000000000001}'),
    (6, '{"minOrders": 2.5, "maxOrders": 7.9}'),
    (7, '{"minAverageOrderValue": 150}'),
    (8, '{"maxAverageOrderValue": 50.25}'),
    (9, '{"minDaysSinceLastPurchase": 30.5, "maxDaysSinceLastPurchase": 120.25}'),
    (10, '{"minTenureDays": 300, "maxTenureDays": 400.125}'),
    (11, '{"minPurchaseFrequency": 1.5}'),
    (12, '{"not": {"loyaltyLevels": ["GOLD"]}}'),
    (13, '{"not": {"minDaysSinceLastPurchase": 100}}'),
    (14, '{"any": [{"loyaltyLevels": ["SILVER"]}, {"not": {"maxAverageOrderValue": 20}}], "all": [{"minOrders": 1}]}'),
    (15, '{"not": {"any": [{"minTenureDays": 200}, {"maxPurchaseFrequency": 0.2}]}}'),
    (16, '{"loyaltyLevels": ["LONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONGLONG"]}'),
    (17, '{"maxDaysSinceLastPurchase": 1000000000000000000}'),  -- beyond every instant: left to the core
    (18, '{"minOrders": 1000000000000000000, "not": {"maxTenureDays": 1000000000000000000}}'),
    (19, '{"maxLifetimeValue": 0}'),
    (20, '{"not": {"not": {"minAverageOrderValue": 0}}}');

-- The same answers, criterion by criterion: inlined constants, the column
-- form (criteria from a table), and the unrewritten call on a row value.
CREATE FUNCTION pg_temp.disagreements(as_of timestamptz) RETURNS TABLE (criteria_id int, customers bigint)
LANGUAGE plpgsql AS $$
DECLARE c record; n bigint;
BEGIN
    FOR c IN SELECT * FROM plan_criteria ORDER BY id LOOP
        EXECUTE format($q$
            SELECT count(*) FROM segmentation.customer_metrics m
            WHERE segmentation.segment_match(m, %L::jsonb, %L::timestamptz)
                  IS DISTINCT FROM segmentation.segment_match(ROW(m.*)::segmentation.customer_metrics, %L::jsonb, %L::timestamptz)$q$,
            c.criteria, as_of, c.criteria, as_of) INTO n;
        IF n > 0 THEN criteria_id := c.id; customers := n; RETURN NEXT; END IF;
    END LOOP;
    RETURN QUERY
    SELECT p.id, count(*) FROM segmentation.customer_metrics m, plan_criteria p
    WHERE segmentation.segment_match(m, p.criteria, disagreements.as_of)
          IS DISTINCT FROM segmentation.segment_match(ROW(m.*)::segmentation.customer_metrics, p.criteria, disagreements.as_of)
    GROUP BY p.id;
END $$;
SELECT * FROM pg_temp.disagreements('2026-01-01');
SELECT * FROM pg_temp.disagreements('2026-03-15 12:34:56.789');
SELECT * FROM pg_temp.disagreements('2027-01-01');
SELECT * FROM pg_temp.disagreements('infinity');

-- The tests do select something (a check that the comparison is not vacuous).
SELECT p.id, count(*) FILTER (WHERE segmentation.segment_match(m, p.criteria, '2026-03-15')) AS members
FROM plan_criteria p, segmentation.customer_metrics m GROUP BY p.id ORDER BY p.id;

-- What the planner makes of it: the filter lines of the plan (the join
-- order and scan types are the planner's business).
CREATE FUNCTION pg_temp.filters(query text) RETURNS SETOF text LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF, VERBOSE) ' || query LOOP
        IF line ~ 'Filter:' THEN RETURN NEXT btrim(line); END IF;
    END LOOP;
END $$;
SELECT pg_temp.filters($q$SELECT count(*) FROM segmentation.customer_metrics m
WHERE segmentation.segment_match(m, '{"minLifetimeValue": 1000, "minOrders": 5, "loyaltyLevels": ["GOLD", "PLATINUM"]}')$q$);
SELECT pg_temp.filters($q$SELECT count(*) FROM segmentation.customer_metrics m
WHERE segmentation.segment_match(m, '{"any": [{"minDaysSinceLastPurchase": 90}, {"not": {"maxPurchaseFrequency": 0.5}}], "minAverageOrderValue": 3}', '2026-03-15')$q$);
SELECT pg_temp.filters($q$SELECT count(*) FROM segmentation.customer_metrics m, plan_criteria p
WHERE segmentation.segment_match(m, p.criteria)$q$);
-- Criteria read from segmentation.segments: both rows' versions come along,
-- so a join finds the compiled criteria and the customer's facts again
-- without decoding them. The answers are segment_match's own, also after
-- criteria change in the same transaction (a new row version).
BEGIN;
INSERT INTO segmentation.segments (name, criteria, is_automatic)
SELECT 'plan ' || id, criteria, true FROM plan_criteria;
SELECT pg_temp.filters($q$SELECT count(*) FROM segmentation.customer_metrics m, segmentation.segments s
WHERE segmentation.segment_match(m, s.criteria)$q$);
CREATE FUNCTION pg_temp.stored_disagreements(as_of timestamptz) RETURNS bigint LANGUAGE sql AS $$
    SELECT count(*) FROM segmentation.customer_metrics m, segmentation.segments s
    WHERE s.name LIKE 'plan %'
      AND segmentation.segment_match(m, s.criteria, as_of)
          IS DISTINCT FROM segmentation.segment_match(ROW(m.*)::segmentation.customer_metrics, s.criteria, as_of) $$;
SELECT pg_temp.stored_disagreements('2026-03-15') AS before_edit, pg_temp.stored_disagreements('infinity') AS at_infinity;
SELECT s.name, count(*) FILTER (WHERE segmentation.segment_match(m, s.criteria, '2026-03-15')) AS members
FROM segmentation.segments s, segmentation.customer_metrics m WHERE s.name IN ('plan 1', 'plan 2', 'plan 19') GROUP BY 1 ORDER BY 1;
UPDATE segmentation.segments SET criteria = '{"maxOrders": 0}' WHERE name = 'plan 1';
UPDATE segmentation.segments SET criteria = '{"minOrders": 0}' WHERE name = 'plan 19';
SELECT s.name, count(*) FILTER (WHERE segmentation.segment_match(m, s.criteria, '2026-03-15')) AS members
FROM segmentation.segments s, segmentation.customer_metrics m WHERE s.name IN ('plan 1', 'plan 2', 'plan 19') GROUP BY 1 ORDER BY 1;
SELECT pg_temp.stored_disagreements('2026-03-15') AS after_edit;
ROLLBACK;
-- An index on a metric serves a constant bound.
CREATE INDEX plan_lifetime_value ON segmentation.customer_metrics (lifetime_value);
SET enable_seqscan = off;
SET enable_bitmapscan = off;
EXPLAIN (COSTS OFF) SELECT customer_id FROM segmentation.customer_metrics m
WHERE segmentation.segment_match(m, '{"minLifetimeValue": 1200}');
SELECT count(*) AS via_index FROM segmentation.customer_metrics m WHERE segmentation.segment_match(m, '{"minLifetimeValue": 1200}');
RESET enable_seqscan;
RESET enable_bitmapscan;
DROP INDEX segmentation.plan_lifetime_value;
SELECT count(*) AS via_scan FROM segmentation.customer_metrics m WHERE segmentation.segment_match(m, '{"minLifetimeValue": 1200}');

-- In a select list the answer is true or false, never NULL.
SELECT segmentation.segment_match(m, '{"loyaltyLevels": ["GOLD"]}') AS gold,
       segmentation.segment_match(m, '{"maxDaysSinceLastPurchase": 10}') AS recent,
       count(*)
FROM segmentation.customer_metrics m WHERE m.customer_id IN (13, 14, 15) GROUP BY 1, 2 ORDER BY 1, 2;

-- Left alone: a row from the nullable side of an outer join (a missing
-- customer is refused, as before), a clock that could differ per bound,
-- an outer reference, and criteria that do not parse (reported when run).
SELECT pg_temp.filters($q$SELECT count(*) FROM plan_customers c LEFT JOIN segmentation.customer_metrics m ON m.customer_id = c.id
WHERE segmentation.segment_match(m, '{}')$q$);
SELECT count(*) FROM (VALUES (1::bigint), (-1)) v(id) LEFT JOIN segmentation.customer_metrics m ON m.customer_id = v.id
WHERE segmentation.segment_match(m, '{}');
SELECT pg_temp.filters($q$SELECT count(*) FROM segmentation.customer_metrics m
WHERE segmentation.segment_match(m, '{"maxTenureDays": 30}', clock_timestamp())$q$);
SELECT count(*) FROM plan_criteria p
WHERE EXISTS (SELECT FROM segmentation.customer_metrics m WHERE segmentation.segment_match(m, p.criteria, '2026-03-15') AND m.customer_id = p.id);
SELECT count(*) FROM segmentation.customer_metrics m WHERE segmentation.segment_match(m, '{"any": [{"minOrders": "5"}]}');
SELECT count(*) FROM segmentation.customer_metrics m WHERE segmentation.segment_match(m, '{}', NULL);
SELECT count(*) FROM segmentation.customer_metrics m, plan_criteria p
WHERE segmentation.segment_match(m, CASE WHEN p.id = 7 THEN NULL ELSE p.criteria END);
SELECT count(*) FROM segmentation.customer_metrics m, (VALUES ('2026-01-01'::timestamptz), (NULL)) t(as_of)
WHERE segmentation.segment_match(m, '{"minOrders": 1}', t.as_of);

-- The helpers check their inputs like any other function.
SELECT segmentation.frequency_at_least(10, '2026-01-01', '2026-03-02', t) AS at_least,
       segmentation.frequency_at_most(10, '2026-01-01', '2026-03-02', t) AS at_most
FROM (VALUES (4.9), (5), (5.1), (1000)) v(t);
SELECT segmentation.frequency_at_least(10, '2026-01-01', '2026-03-02', -1);
SELECT segmentation.frequency_at_least(10, '2026-01-01', '2026-03-02', 0.0000000000000000001);
SELECT segmentation.elapsed_at_least('2026-01-01', '2026-01-02', 86400000000) AS one_day,
       segmentation.elapsed_at_most('2026-01-01', '2026-01-02', 86399999999) AS under_a_day,
       segmentation.elapsed_at_least('-infinity', 'infinity', 9223372036854775807) AS forever;

SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DROP TABLE plan_customers, plan_orders, plan_criteria;
DELETE FROM segmentation.assignment_log;
