-- The planner rewrite of segment_match(m, criteria) never applies where m can
-- be NULL: rows nulled by grouping sets (GROUPING SETS, ROLLUP, CUBE) raise
-- the 22004 of the unrewritten call, like outer joins (see planning.sql).
-- The helpers the rewrite produces answer correctly when called by hand.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;

CREATE TABLE xp_customers (id bigint PRIMARY KEY, created_at timestamptz, tier text);
CREATE TABLE xp_orders (id bigint PRIMARY KEY, customer_id bigint, amount numeric, ordered_at timestamptz);
INSERT INTO xp_customers VALUES (1, '2026-01-01', 'GOLD'), (2, '2026-01-02', NULL);
INSERT INTO xp_orders VALUES (1, 1, 500, '2026-01-05'), (2, 2, 5, '2026-01-06');
SELECT segmentation.track_customers('xp_customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('xp_orders', 'customer_id', 'amount', 'ordered_at');

-- The grand total's m is NULL: the call refuses it, whatever the criteria.
SELECT segmentation.segment_match(m, '{"minLifetimeValue": 100}', '2026-02-01') AS big
FROM segmentation.customer_metrics m GROUP BY GROUPING SETS ((m), ());
SELECT segmentation.segment_match(m, '{"maxLifetimeValue": 100}', '2026-02-01') AS small
FROM segmentation.customer_metrics m GROUP BY GROUPING SETS ((m), ());
SELECT segmentation.segment_match(m, '{"minLifetimeValue": 100}', '2026-02-01') AS big
FROM segmentation.customer_metrics m GROUP BY ROLLUP (m);
SELECT segmentation.segment_match(m, '{"minLifetimeValue": 100}', '2026-02-01') AS big
FROM segmentation.customer_metrics m GROUP BY CUBE (m);
-- criteria from a table, and from segments: m NULL in the second set
CREATE TABLE xp_criteria (id int PRIMARY KEY, criteria jsonb);
INSERT INTO xp_criteria VALUES (1, '{"minLifetimeValue": 100}');
SELECT c.id, segmentation.segment_match(m, c.criteria, '2026-02-01') AS matches
FROM segmentation.customer_metrics m, xp_criteria c
GROUP BY GROUPING SETS ((m, c.id, c.criteria), (c.id, c.criteria));
SELECT segmentation.create_segment('xp big', '{"minLifetimeValue": 100}', true) > 0 AS created;
SELECT s.name, segmentation.segment_match(m, s.criteria, '2026-02-01') AS matches
FROM segmentation.customer_metrics m, segmentation.segments s
GROUP BY GROUPING SETS ((m, s.name, s.criteria), (s.name, s.criteria));
-- Without a NULL row the answers stay those of segment_match.
SELECT m.customer_id, segmentation.segment_match(m, '{"minLifetimeValue": 100}', '2026-02-01') AS big
FROM segmentation.customer_metrics m GROUP BY GROUPING SETS ((m, m.customer_id)) ORDER BY 1;
SELECT m.customer_id, bool_or(segmentation.segment_match(m, '{"minLifetimeValue": 100}', '2026-02-01')) AS big
FROM segmentation.customer_metrics m GROUP BY GROUPING SETS ((m.customer_id), ()) ORDER BY 1;

-- The helpers, called by hand with one row version for different customers
-- and criteria, answer for the values they are given.
SELECT v.n, segmentation.segment_match_rows('(0,1)', '2', v.ltv, 1, '2026-01-05', '2026-01-01', 'GOLD', NULL, v.criteria,
                                            '(0,1)', '2', '2026-02-01') AS by_hand,
       segmentation.segment_match_values(v.ltv, 1, '2026-01-05', '2026-01-01', 'GOLD', NULL, v.criteria, '2026-02-01') AS values_form,
       v.expected
FROM (VALUES (1, 500::numeric, '{"minLifetimeValue": 100}'::jsonb, true),
             (2, 5, '{"minLifetimeValue": 100}', false),
             (3, 5, '{"maxLifetimeValue": 100}', true),
             (4, 500, '{"maxLifetimeValue": 100}', false),
             (5, 500, '{"minLifetimeValue": 100}', true)) v(n, ltv, criteria, expected)
ORDER BY v.n;
-- The same, with real versions of other rows: a customer's ctid and xmin
-- given with another customer's columns.
SELECT m.customer_id,
       segmentation.segment_match_rows(x.ctid, x.xmin, m.lifetime_value, m.order_count, m.last_order_at,
                                       m.customer_since, m.loyalty_level, m.attributes, s.criteria, x.ctid, x.xmin,
                                       '2026-02-01') AS by_hand,
       segmentation.segment_match(m, s.criteria, '2026-02-01') AS expected
FROM segmentation.customer_metrics m, segmentation.customer_metrics x, segmentation.segments s
WHERE x.customer_id = 1 AND s.name = 'xp big' ORDER BY 1;

-- Constant criteria of more than 1,000 conditions are not inlined (an "any"
-- of N arms of one bound each has 1 + 2N conditions); the answers are the same.
CREATE FUNCTION pg_temp.inlined(query text) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE line text;
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP
        IF position('segment_match_values' IN line) > 0 THEN RETURN false; END IF;
    END LOOP;
    RETURN true;
END $$;
SELECT n, pg_temp.inlined(format('SELECT m.customer_id FROM segmentation.customer_metrics m WHERE segmentation.segment_match(m, %L, %L)',
                                 c, '2026-02-01')) AS inlined,
       (SELECT array_agg(m.customer_id ORDER BY m.customer_id) FROM segmentation.customer_metrics m
        WHERE segmentation.segment_match(m, c, '2026-02-01')) AS matching
FROM (SELECT n, jsonb_build_object('any', (SELECT jsonb_agg(jsonb_build_object('minLifetimeValue', 100 * g)) FROM generate_series(1, n) g)) AS c
      FROM unnest(ARRAY[499, 500]) n) x ORDER BY n;

-- A join with more segments than the recent-version ring (32) and the old
-- cache size (256): every pair still gets segment_match's answer.
INSERT INTO segmentation.segments (name, criteria, is_automatic)
SELECT 'xp many ' || g, jsonb_build_object('minLifetimeValue', g * 2, 'maxLifetimeValue', g * 2 + 100), true
FROM generate_series(1, 300) g;
SELECT count(*) AS pairs, count(*) FILTER (WHERE joined IS DISTINCT FROM by_id) AS different, count(*) FILTER (WHERE joined) AS matching
FROM (SELECT segmentation.segment_match(m, s.criteria, '2026-02-01') AS joined,
             segmentation.segment_match(m.customer_id, s.criteria, '2026-02-01') AS by_id
      FROM segmentation.customer_metrics m, segmentation.segments s WHERE s.name LIKE 'xp many %') x;
DELETE FROM segmentation.segments WHERE name LIKE 'xp many %';

SELECT count(*) FROM segmentation.verify('2026-02-01');
SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DELETE FROM segmentation.segments WHERE name = 'xp big';
DROP TABLE xp_customers, xp_orders, xp_criteria;
DELETE FROM segmentation.assignment_log;
