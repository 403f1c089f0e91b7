-- Behaviour in a time window: "window": {"days": D, "minOrders", "maxOrders",
-- "minSpend", "maxSpend"}. Validation; matching with fixed dates at an
-- explicit as_of (boundaries, fractional days, future orders, date and
-- timestamp columns); live membership on order writes; the due time at
-- which the oldest in-window order leaves, and refresh_due() keeping
-- membership exact as time passes; verify(); what refuses windows.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result text;
BEGIN
    EXECUTE statement INTO result;
    RETURN coalesce(result, 'NULL');
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Validation: every mistake names its path.
SELECT c AS criteria, pg_temp.outcome(format('SELECT segmentation.check_criteria(%L)', c)) AS outcome
FROM unnest(ARRAY[
    '{"window": {"days": 30, "minOrders": 2}}',
    '{"any": [{"not": {"window": {"days": 0.5, "maxSpend": 50.25, "minSpend": 0}}}]}',
    '{"window": 30}',
    '{"window": {}}',
    '{"window": {"days": 30}}',
    '{"window": {"minOrders": 1}}',
    '{"window": {"days": 0, "minOrders": 1}}',
    '{"window": {"days": -3, "minOrders": 1}}',
    '{"window": {"days": "30", "minOrders": 1}}',
    '{"window": {"days": 1000000.5, "minOrders": 1}}',
    '{"window": {"days": 30, "minOrders": -1}}',
    '{"window": {"days": 30, "maxSpend": 1e19}}',
    '{"window": {"days": 30, "minOrders": 3, "maxOrders": 2}}',
    '{"window": {"days": 30, "minSpend": 10, "maxSpend": 9.99}}',
    '{"window": {"days": 30, "minorders": 1}}',
    '{"all": [{"window": {"days": 30, "spend": 1}}]}',
    '{"windows": {"days": 30, "minOrders": 1}}'
]) AS c;

-- A shop with orders of timestamptz, and one with date order times.
CREATE TABLE win_customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL);
CREATE TABLE win_orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint, amount numeric,
                         ordered_at timestamptz);
-- What makes reading a customer's in-window orders cheap (README, "Behaviour in a time window").
CREATE INDEX ON win_orders (customer_id, ordered_at);
SELECT segmentation.track_customers('win_customers', 'id', 'created_at');
SELECT segmentation.track_orders('win_orders', 'customer_id', 'amount', 'ordered_at');

-- Fixed dates, matched at an explicit as_of (no segments yet: nothing is evaluated live).
INSERT INTO win_customers VALUES (1, '2020-01-01'), (2, '2020-01-01'), (3, '2020-01-01');
INSERT INTO win_orders (customer_id, amount, ordered_at) VALUES
    (1, 20, '2024-05-01 12:00:00+00'),            -- exactly 30 days before as_of
    (1, 25.5, '2024-05-21 12:00:00+00'),          -- 10 days before
    (1, 100, '2024-05-01 11:59:59.999999+00'),    -- one microsecond too old for 30 days
    (1, 4.5, '2024-06-02 12:00:00+00'),           -- two days after as_of: counts
    (2, NULL, '2024-05-31 00:00:00+00'),          -- no amount: counts, with 0
    (2, 7, NULL),                                 -- no time: in no window
    (NULL, 1000, '2024-05-31 00:00:00+00');       -- no customer: ignored
\set as_of '''2024-05-31 12:00:00+00'''
SELECT c.id, x.criteria, segmentation.segment_match(c.id, x.criteria::jsonb, :as_of) AS matches
FROM win_customers c, unnest(ARRAY[
    '{"window": {"days": 30, "minOrders": 3, "maxOrders": 3}}',
    '{"window": {"days": 30, "minSpend": 50, "maxSpend": 50}}',
    '{"window": {"days": 30, "maxSpend": 49.999999999999999999}}',
    '{"window": {"days": 29.999999999, "minOrders": 3}}',
    '{"window": {"days": 30.000000000000000001, "minOrders": 4}}',
    '{"window": {"days": 0.5, "minOrders": 1}}',
    '{"window": {"days": 90, "maxOrders": 0}}',
    '{"not": {"window": {"days": 90, "minSpend": 0.01}}}',
    '{"any": [{"window": {"days": 1, "minOrders": 2}}, {"window": {"days": 31, "minSpend": 150}}]}'
]) AS x(criteria)
ORDER BY c.id, x.criteria;

-- Why: the counts and spends behind each window.
SELECT segmentation.explain_match(1, '{"window": {"days": 30, "minOrders": 4}, "not": {"window": {"days": 0.5, "maxSpend": 1}}}'::jsonb, :as_of);
SELECT segmentation.explain_match(3, '{"window": {"days": 30, "maxSpend": 50}}'::jsonb, :as_of);

-- A metrics row does not carry orders: refused, planned or not, constant or not.
SELECT pg_temp.outcome($$SELECT count(*) FROM segmentation.customer_metrics m
                         WHERE segmentation.segment_match(m, '{"window": {"days": 30, "minOrders": 1}}')$$) AS constant;
SELECT pg_temp.outcome($$SELECT count(*) FROM segmentation.customer_metrics m,
                         (VALUES ('{"any": [{"minOrders": 9}, {"window": {"days": 30, "minOrders": 1}}]}'::jsonb)) v(c)
                         WHERE segmentation.segment_match(m, v.c)$$) AS from_values;
-- preview matches window criteria by customer id instead: the same answers
-- as segment_match(id) at the same instant.
SELECT p.matching, p.customers, p.sample,
       (SELECT count(*) FROM win_customers c
        WHERE segmentation.segment_match(c.id, '{"window": {"days": 30, "minOrders": 3}}', :as_of)) AS by_id
FROM segmentation.preview('{"window": {"days": 30, "minOrders": 3}}', :as_of) p;
-- An infinite as_of has no window.
SELECT pg_temp.outcome($$SELECT segmentation.segment_match(1, '{"window": {"days": 30, "minOrders": 1}}', 'infinity')$$) AS infinite;

DELETE FROM win_orders;
DELETE FROM win_customers;

-- Live: dates relative to an anchor t0, far from every bound; as_of explicit where the clock matters.
SELECT now() AS t0 \gset
INSERT INTO win_customers SELECT i, :'t0'::timestamptz - interval '400 days' FROM generate_series(1, 4) i;
SELECT segmentation.create_segment('Two in 30 days', '{"window": {"days": 30, "minOrders": 2}}', true) AS two \gset
SELECT segmentation.create_segment('Spent under 50 in 90 days', '{"minOrders": 1, "window": {"days": 90, "maxSpend": 50}}', true) AS light \gset
SELECT segmentation.create_segment('Quiet this week', '{"minOrders": 1, "not": {"window": {"days": 7.5, "minOrders": 1}}}', true) AS quiet \gset
-- 1: two recent orders; 2: one old, one recent, spend 60; 3: one order 20 days ago; 4: nothing.
INSERT INTO win_orders (customer_id, amount, ordered_at) VALUES
    (1, 10, :'t0'::timestamptz - interval '20 days'),
    (1, 15, :'t0'::timestamptz - interval '3 days'),
    (2, 40, :'t0'::timestamptz - interval '60 days'),
    (2, 20, :'t0'::timestamptz - interval '2 days'),
    (3, 30, :'t0'::timestamptz - interval '20 days');
SELECT a.customer_id, s.name FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
ORDER BY 1, 2;
-- Due: when the first in-window order of some window leaves it (+1 microsecond), relative to t0.
SELECT customer_id, reevaluate_at - :'t0'::timestamptz AS due_after_t0
FROM segmentation.customer_metrics ORDER BY 1;
SELECT * FROM segmentation.verify(:'t0'::timestamptz + interval '1 hour');
-- A due time lost (or later than an order's leaving) is drift; refresh_all() makes it exact again.
UPDATE segmentation.customer_metrics SET reevaluate_at = reevaluate_at + interval '1 day' WHERE customer_id = 1;
UPDATE segmentation.customer_metrics SET reevaluate_at = NULL WHERE customer_id = 2;
SELECT customer_id, problem, expected::timestamptz - :'t0'::timestamptz AS expected_after_t0,
       actual::timestamptz - :'t0'::timestamptz AS actual_after_t0
FROM segmentation.verify(:'t0'::timestamptz + interval '1 hour');
SELECT customers FROM segmentation.refresh_all();
SELECT * FROM segmentation.verify(:'t0'::timestamptz + interval '1 hour');

-- A second recent order for customer 3: two in 30 days, live.
INSERT INTO win_orders (customer_id, amount, ordered_at) VALUES (3, 5, :'t0'::timestamptz - interval '1 day');
SELECT s.name FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
WHERE a.customer_id = 3 ORDER BY 1;

-- Time passes: 8 days on, customer 1's 3-day-old order is out of the 7.5-day window (it was due then).
SELECT * FROM segmentation.refresh_due(:'t0'::timestamptz + interval '8 days');
SELECT a.customer_id, s.name FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
ORDER BY 1, 2;
-- 31 days on, the 20-day-old orders have left the 30-day window; 91 days on customer 2's 60-day-old order
-- has left the 90-day one (spend 20: light again). Each step is exact at its instant.
SELECT * FROM segmentation.refresh_due(:'t0'::timestamptz + interval '10 days 1 second');
SELECT * FROM segmentation.refresh_due(:'t0'::timestamptz + interval '29 days 23 hours');
SELECT * FROM segmentation.verify(:'t0'::timestamptz + interval '29 days 23 hours');
SELECT * FROM segmentation.refresh_due(:'t0'::timestamptz + interval '31 days');
SELECT * FROM segmentation.verify(:'t0'::timestamptz + interval '31 days');
SELECT * FROM segmentation.refresh_due(:'t0'::timestamptz + interval '91 days');
SELECT * FROM segmentation.verify(:'t0'::timestamptz + interval '91 days');
SELECT a.customer_id, s.name FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
ORDER BY 1, 2;
SELECT customer_id, reevaluate_at - :'t0'::timestamptz AS due_after_t0
FROM segmentation.customer_metrics ORDER BY 1;
SELECT l.customer_id, s.name, l.action, l.cause FROM segmentation.assignment_log l
JOIN segmentation.segments s ON s.id = l.segment_id WHERE l.cause = 'time' ORDER BY l.id;

-- verify() sees drift in window membership, and in what customer 2's row
-- remembers (refresh_due() wrote it), which the assignments now contradict.
DELETE FROM segmentation.assignments WHERE customer_id = 2 AND segment_id = :light;
SELECT customer_id, problem, expected = format('{%s,%s}', :light, :quiet) AS expected_light_and_quiet,
       actual = format('{%s}', :quiet) AS actual_quiet
FROM segmentation.verify(:'t0'::timestamptz + interval '91 days');
SELECT * FROM segmentation.refresh_all();
-- next_change_at over a row cannot see orders while segments use windows.
SELECT pg_temp.outcome($$SELECT segmentation.next_change_at(m) FROM segmentation.customer_metrics m LIMIT 1$$) AS next_change_at;
-- Customer 1 at t0 + 91 days: no order in any window, so light (spend 0) and quiet; at t0: two in 30 days.
SELECT segmentation.calculate_automatic_segments(1, :'t0'::timestamptz + interval '91 days') = ARRAY[:light, :quiet]::bigint[] AS later,
       segmentation.calculate_automatic_segments(1, :'t0'::timestamptz) = ARRAY[:two, :light]::bigint[] AS at_t0;

-- Deleting orders, moving an order to another customer: live.
UPDATE win_orders SET customer_id = 4 WHERE customer_id = 1;
DELETE FROM win_orders WHERE customer_id = 2 AND amount = 40;
SELECT a.customer_id, s.name FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
ORDER BY 1, 2;
SELECT * FROM segmentation.verify();

-- Date order times: an order on a date is at its midnight UTC.
SELECT segmentation.untrack_orders();
CREATE TABLE win_day_orders (customer_id bigint, amount integer, ordered_on date);
SELECT segmentation.track_orders('win_day_orders', 'customer_id', 'amount', 'ordered_on');
SELECT segmentation.delete_segment(id) FROM segmentation.segments ORDER BY id;
INSERT INTO win_day_orders VALUES (1, 5, '2024-05-01'), (1, 6, '2024-05-30'), (2, 7, '2024-05-02');
SELECT c.id, segmentation.segment_match(c.id, '{"window": {"days": 30, "minOrders": 2}}', '2024-05-31 00:00:00+00') AS at_midnight,
       segmentation.segment_match(c.id, '{"window": {"days": 30, "minOrders": 2}}', '2024-05-31 00:00:00.000001+00') AS just_after,
       segmentation.segment_match(c.id, '{"window": {"days": 29, "minSpend": 7}}', '2024-05-31 00:00:00+00') AS twenty_nine
FROM win_customers c ORDER BY 1;
SELECT segmentation.untrack_orders();
SELECT segmentation.untrack_customers();
