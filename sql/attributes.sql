-- Customer attributes: further columns of the customers table, tracked with
-- track_customer_attributes(), stored in customer_metrics.attributes and
-- tested by criteria under "attributes". Validation, live evaluation, the
-- planner's inlined form, verify(), and what refuses to break it.
\set VERBOSITY default
\set SHOW_CONTEXT never
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;  -- stable plans

CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE result text;
BEGIN
    EXECUTE statement INTO result;
    RETURN coalesce(result, 'NULL');
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

CREATE TYPE attr_tier AS ENUM ('bronze', 'silver', 'gold');
CREATE TABLE attr_customers (
    id bigint PRIMARY KEY, created_at timestamptz NOT NULL, loyalty text,
    country text, city varchar(20), code char(4), tier attr_tier, vip boolean,
    age smallint, visits integer, points bigint, balance numeric,
    born date, seen_at timestamp, consent_at timestamptz, photo bytea);
CREATE TABLE attr_orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint, amount numeric,
                          ordered_at timestamptz);

-- Attributes need a tracked customers table.
SELECT pg_temp.outcome($$SELECT segmentation.track_customer_attributes('{country}')$$) AS untracked;

INSERT INTO attr_customers VALUES
    (1, '2026-01-01', 'GOLD', 'DE', 'Berlin', 'AB', 'gold', true, 34, 12, 9000000000, 1250.50,
     '1991-06-15', '2026-02-01 10:30', '2026-01-15 08:00+00', NULL),
    (2, '2026-01-01', NULL, 'FR', 'Paris', 'CD  ', 'silver', false, 17, 0, -5, -0.000000000000000000001,
     '2008-12-31', '2026-02-01 10:30:00.000001', NULL, NULL),
    (3, '2026-01-01', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 'NaN',
     NULL, 'infinity', '-infinity', NULL),
    (4, '2026-01-01', NULL, 'de', 'Bonn', 'AB', 'bronze', true, 18, 3, 100, 1e30,
     '2000-01-01', '1999-12-31 23:59:59.999999', '2000-01-01 01:00+01', NULL);
INSERT INTO attr_orders (customer_id, amount, ordered_at) VALUES (1, 100, '2026-01-20'), (2, 5, '2026-01-21');
SELECT segmentation.track_customers('attr_customers', 'id', 'created_at', 'loyalty');
SELECT segmentation.track_orders('attr_orders', 'customer_id', 'amount', 'ordered_at');

-- Bad calls, with their SQLSTATEs; none of them changes the configuration.
SELECT call, pg_temp.outcome(call) AS outcome FROM (VALUES
    ($$SELECT segmentation.track_customer_attributes(NULL)$$),
    ($$SELECT segmentation.track_customer_attributes('{country, NULL}')$$),
    ($$SELECT segmentation.track_customer_attributes('{country, country}')$$),
    ($$SELECT segmentation.track_customer_attributes('{colour}')$$),
    ($$SELECT segmentation.track_customer_attributes('{photo}')$$),
    ($$SELECT segmentation.track_customer_attributes(ARRAY(SELECT 'c' || g FROM generate_series(1, 33) g)::name[])$$),
    ($$SELECT segmentation.track_customer_attributes('{{country},{city}}')$$)
) AS t(call);
SELECT attribute_columns FROM segmentation.tracked_tables WHERE kind = 'customers';

SELECT segmentation.track_customer_attributes(
    '{country, city, code, tier, vip, age, visits, points, balance, born, seen_at, consent_at}');
SELECT attribute_columns FROM segmentation.tracked_tables WHERE kind = 'customers';
-- Stored values: text as text (char without its padding, enums by label),
-- numbers exact (NaN, out of any range, as a string), times in seconds since
-- 1970-01-01 UTC (a timestamp read as UTC, a date as midnight UTC; infinite
-- times as strings), NULL columns left out.
SELECT customer_id, attributes FROM segmentation.customer_metrics ORDER BY customer_id;
SELECT count(*) AS drift FROM segmentation.verify('2026-03-01');

-- Validation against the tracked attributes: names and the tests each kind takes.
SELECT document, pg_temp.outcome(format('SELECT segmentation.check_criteria(%L)', document)) AS outcome FROM (VALUES
    ('{"attributes": {"country": {"in": ["DE", "FR"]}, "age": {"min": 18, "max": 65}, "vip": {"equals": true}}}'),
    ('{"attributes": {"born": {"min": "1990-01-01", "max": "1999-12-31T23:59:59Z"}, "tier": {"isNull": false}}}'),
    ('{"any": [{"attributes": {"balance": {"min": -0.5}}}, {"not": {"attributes": {"code": {"equals": "AB"}}}}]}'),
    ('{"attributes": {"contry": {"equals": "DE"}}}'),
    ('{"attributes": {"photo": {"isNull": true}}}'),
    ('{"all": [{"attributes": {"country": {"min": 1}}}]}'),
    ('{"attributes": {"country": {"equals": 49}}}'),
    ('{"attributes": {"age": {"equals": "18"}}}'),
    ('{"attributes": {"age": {"min": "2000-01-01"}}}'),
    ('{"attributes": {"vip": {"equals": "yes"}}}'),
    ('{"attributes": {"vip": {"in": [1]}}}'),
    ('{"attributes": {"born": {"equals": "2000-01-01"}}}'),
    ('{"attributes": {"born": {"min": 5}}}'),
    ('{"attributes": {"born": {"min": "2000-02-30"}}}'),
    ('{"attributes": {"age": {"min": 65, "max": 18}}}'),
    ('{"attributes": {"age": {"between": [1, 2]}}}'),
    ('{"attributes": {"age": {}}}'),
    ('{"attributes": {}}'),
    ('{"attributes": {"age": {"isNull": "no"}}}')
) AS t(document);

-- Segments on attributes, populated as they are created.
SELECT segmentation.create_segment('Adults', '{"attributes": {"age": {"min": 18}}}', true) AS adults,
       segmentation.create_segment('DACH', '{"attributes": {"country": {"in": ["DE", "AT", "CH"]}}}', true) AS dach,
       segmentation.create_segment('VIP gold', '{"attributes": {"vip": {"equals": true}, "tier": {"equals": "gold"}}}',
                                   true) AS vip_gold,
       segmentation.create_segment('Nineties', '{"attributes": {"born": {"min": "1990-01-01", "max": "1999-12-31"}}}',
                                   true) AS nineties,
       segmentation.create_segment('No consent', '{"attributes": {"consent_at": {"isNull": true}}}', true) AS no_consent,
       segmentation.create_segment('Rich', '{"attributes": {"balance": {"min": 1000}}, "minOrders": 1}', true) AS rich;
-- Invalid attribute criteria are never stored, by any path.
SELECT pg_temp.outcome($$SELECT segmentation.create_segment('Bad', '{"attributes": {"agee": {"min": 1}}}', true)$$);
SELECT pg_temp.outcome($$INSERT INTO segmentation.segments (name, criteria, is_automatic)
                         VALUES ('Bad', '{"attributes": {"vip": {"min": 1}}}', true) RETURNING 'stored'$$);
SELECT pg_temp.outcome($$UPDATE segmentation.segments SET criteria = '{"attributes": {"age": {"equals": true}}}'
                         WHERE name = 'Adults' RETURNING 'stored'$$);

CREATE VIEW attr_members AS
SELECT s.name, array_agg(a.customer_id ORDER BY a.customer_id) AS customers
FROM segmentation.segments s LEFT JOIN segmentation.assignments a ON a.segment_id = s.id
GROUP BY s.name ORDER BY s.name;
SELECT * FROM attr_members;

-- Live: a change to an attribute column moves the customer in the same
-- statement (logged with cause 'customer'); a change to an untracked column
-- or to the same value changes nothing.
UPDATE attr_customers SET age = 18, country = 'AT' WHERE id = 2;
SELECT * FROM attr_members WHERE name IN ('Adults', 'DACH');
SELECT customer_id, s.name, action, cause FROM segmentation.assignment_log l JOIN segmentation.segments s ON s.id = l.segment_id
WHERE customer_id = 2 ORDER BY l.id;
SELECT count(*) AS log_rows_before FROM segmentation.assignment_log \gset
UPDATE attr_customers SET photo = '\x00', age = 18 WHERE id = 2;
SELECT count(*) - :log_rows_before AS new_log_rows FROM segmentation.assignment_log;
UPDATE attr_customers SET consent_at = '2026-02-02' WHERE id IN (2, 4);
UPDATE attr_customers SET born = '1999-12-31' WHERE id = 4;
INSERT INTO attr_customers (id, created_at, country, age, vip, tier) VALUES (5, '2026-01-01', 'CH', 70, true, 'gold');
SELECT * FROM attr_members;
-- An order moves a customer whose attributes already match (the order path reads them too).
INSERT INTO attr_orders (customer_id, amount, ordered_at) VALUES (4, 1, '2026-01-22');
SELECT * FROM attr_members WHERE name = 'Rich';
SELECT count(*) AS drift FROM segmentation.verify('2026-03-01');

-- With segment membership in the mix (verify() then evaluates every customer
-- in C++): attributes and inSegment together.
SELECT segmentation.create_segment('Adult VIPs',
         jsonb_build_object('inSegment', (SELECT id FROM segmentation.segments WHERE name = 'Adults'),
                            'attributes', '{"vip": {"equals": true}}'::jsonb), true) > 0 AS created;
SELECT * FROM attr_members WHERE name = 'Adult VIPs';
SELECT count(*) AS drift FROM segmentation.verify('2026-03-01');
DELETE FROM segmentation.segments WHERE name = 'Adult VIPs';

-- Matching in queries: the planner inlines attribute tests as jsonb
-- expressions over m.attributes, with the same answers as the call left alone
-- (a row value) and the column form (criteria from a table).
CREATE TABLE attr_criteria (id int PRIMARY KEY, criteria jsonb NOT NULL);
INSERT INTO attr_criteria VALUES
    (1, '{"attributes": {"country": {"equals": "DE"}}}'),
    (2, '{"attributes": {"country": {"in": ["de", "FR", "AT"]}, "city": {"isNull": false}}}'),
    (3, '{"attributes": {"code": {"equals": "CD"}}}'),
    (4, '{"attributes": {"tier": {"in": ["gold", "silver"]}}}'),
    (5, '{"attributes": {"vip": {"equals": false}}}'),
    (6, '{"not": {"attributes": {"vip": {"equals": true}}}}'),
    (7, '{"attributes": {"age": {"min": 18, "max": 18}}}'),
    (8, '{"attributes": {"points": {"in": [100, -5]}}}'),
    (9, '{"attributes": {"balance": {"min": 0}}}'),
    (10, '{"attributes": {"balance": {"max": 0}}}'),
    (11, '{"attributes": {"balance": {"equals": 1250.5}}}'),
    (12, '{"attributes": {"balance": {"max": -0.000000000000000001}}}'),
    (13, '{"attributes": {"balance": {"isNull": false}}}'),
    (14, '{"attributes": {"seen_at": {"max": "2026-02-01T10:30:00Z"}}}'),
    (15, '{"attributes": {"seen_at": {"min": "2026-02-01T11:30:00.000001+01:00"}}}'),
    (16, '{"attributes": {"consent_at": {"min": "2000-01-01", "max": "2000-01-01"}}}'),
    (17, '{"attributes": {"born": {"isNull": true}}}'),
    (18, '{"any": [{"attributes": {"age": {"max": 17}}}, {"loyaltyLevels": ["GOLD"], "minOrders": 1}]}'),
    (19, '{"not": {"attributes": {"visits": {"min": 1}}}}');
CREATE FUNCTION pg_temp.forms(criteria jsonb, OUT inlined bigint[], OUT by_row bigint[], OUT by_column bigint[])
LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE format($q$SELECT array_agg(customer_id ORDER BY customer_id) FROM segmentation.customer_metrics m
                      WHERE segmentation.segment_match(m, %L::jsonb, '2026-03-01')$q$, criteria) INTO inlined;
    SELECT array_agg(customer_id ORDER BY customer_id) INTO by_row FROM segmentation.customer_metrics m
    WHERE segmentation.segment_match(ROW(m.*)::segmentation.customer_metrics, criteria, '2026-03-01');
    SELECT array_agg(customer_id ORDER BY customer_id) INTO by_column FROM segmentation.customer_metrics m
    WHERE segmentation.segment_match_values(m.lifetime_value, m.order_count, m.last_order_at, m.customer_since,
                                            m.loyalty_level, m.attributes, criteria, '2026-03-01');
END $$;
SELECT p.id, f.inlined AS customers, f.inlined IS NOT DISTINCT FROM f.by_row AS same_by_row,
       f.inlined IS NOT DISTINCT FROM f.by_column AS same_by_column
FROM attr_criteria p, pg_temp.forms(p.criteria) f ORDER BY p.id;
-- Inlined indeed: no call of the matching functions is left in the plan.
CREATE FUNCTION pg_temp.plan_of(query text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE line text; plan text := '';
BEGIN
    FOR line IN EXECUTE 'EXPLAIN (COSTS OFF) ' || query LOOP plan := plan || line || E'\n'; END LOOP;
    RETURN plan;
END $$;
SELECT array_agg(p.id ORDER BY p.id) AS not_inlined FROM attr_criteria p
WHERE pg_temp.plan_of(format($q$SELECT 1 FROM segmentation.customer_metrics m
                                WHERE segmentation.segment_match(m, %L::jsonb, '2026-03-01')$q$, p.criteria))
      LIKE '%segment_match%';
-- The inlined expression, as EXPLAIN shows it.
EXPLAIN (COSTS OFF) SELECT customer_id FROM segmentation.customer_metrics m
WHERE segmentation.segment_match(m, '{"attributes": {"country": {"equals": "DE"}, "age": {"min": 18}, "tier": {"in": ["gold"]}, "born": {"isNull": false}}}');
-- Unknown attributes are an error in queries too, whatever the form.
SELECT pg_temp.outcome($$SELECT count(*) FROM segmentation.customer_metrics m
                         WHERE segmentation.segment_match(m, '{"attributes": {"colour": {"equals": "red"}}}')$$);
SELECT pg_temp.outcome($$SELECT segmentation.segment_match(1, '{"attributes": {"age": {"min": "x"}}}')$$);
SELECT segmentation.segment_match(2, '{"attributes": {"age": {"min": 18}, "country": {"equals": "AT"}}}') AS by_id;

-- What would break the tracking or stored criteria is refused, and leaves everything as it was.
SELECT call, pg_temp.outcome(call) AS outcome FROM (VALUES
    ($$SELECT segmentation.track_customer_attributes('{country}')$$),
    ($$SELECT segmentation.untrack_customers()::text$$),
    ($$ALTER TABLE attr_customers DROP COLUMN age$$),
    ($$ALTER TABLE attr_customers RENAME COLUMN vip TO very_important$$),
    ($$ALTER TABLE attr_customers ALTER COLUMN visits TYPE bigint$$),
    ($$ALTER TYPE attr_tier RENAME VALUE 'gold' TO 'golden'$$)
) AS t(call);
ALTER TYPE attr_tier ADD VALUE 'platinum';  -- adding a value is fine
ALTER TABLE attr_customers ADD COLUMN nickname text;  -- so is a new column
SELECT attribute_columns FROM segmentation.tracked_tables WHERE kind = 'customers';

-- Values written behind the extension's back are drift, and tracking the
-- attributes again writes them back.
UPDATE segmentation.customer_metrics SET attributes = attributes || '{"age": 99}' WHERE customer_id = 1;
SELECT customer_id, problem FROM segmentation.verify('2026-03-01');
SELECT segmentation.track_customer_attributes(
    '{country, city, code, tier, vip, age, visits, points, balance, born, seen_at, consent_at, nickname}');
SELECT customer_id, problem FROM segmentation.verify('2026-03-01');

-- Bulk loads: with live evaluation off, an attribute change marks the
-- customer due, and refresh_due() moves it.
SELECT segmentation.set_live_evaluation('attr_customers', false);
UPDATE attr_customers SET age = 10 WHERE id = 1;
SELECT reevaluate_at FROM segmentation.customer_metrics WHERE customer_id = 1;
SELECT * FROM attr_members WHERE name = 'Adults';
SELECT customers, added, removed FROM segmentation.refresh_due('2026-03-01');
SELECT * FROM attr_members WHERE name = 'Adults';
SELECT segmentation.set_live_evaluation('attr_customers', true);

-- A plain edit evaluates the edited segment and those it refers to, with the
-- customers' attributes decoded when one of them tests attributes (here DACH,
-- through inSegment), and not otherwise (Two orders, then One order at most).
SELECT segmentation.create_segment('In DACH',
    jsonb_build_object('inSegment', (SELECT id FROM segmentation.segments WHERE name = 'DACH'), 'minOrders', 50), true)
    IS NOT NULL AS created,
    segmentation.create_segment('Two orders', '{"minOrders": 20}', true) IS NOT NULL AS created;
UPDATE segmentation.segments SET criteria = criteria || '{"minOrders": 1}' WHERE name IN ('In DACH', 'Two orders');
UPDATE segmentation.segments SET criteria = '{"maxOrders": 1}' WHERE name = 'Two orders';
SELECT * FROM attr_members WHERE name IN ('DACH', 'In DACH', 'Two orders') ORDER BY name;
SELECT count(*) AS drift FROM segmentation.verify('2026-03-01');

-- Attributes no segment tests can stop being tracked; their values go.
DELETE FROM segmentation.segments;
SELECT segmentation.track_customer_attributes('{age}');
SELECT customer_id, attributes FROM segmentation.customer_metrics ORDER BY customer_id;
SELECT segmentation.untrack_customers();
SELECT count(*) AS with_attributes FROM segmentation.customer_metrics WHERE attributes IS NOT NULL;
SELECT count(*) AS drift FROM segmentation.verify('2026-03-01');
SELECT segmentation.untrack_orders();
-- Leave nothing behind for the tests that follow (they retype the keys).
DROP VIEW attr_members;
DROP TABLE attr_criteria, attr_orders, attr_customers;
DROP TYPE attr_tier;
DELETE FROM segmentation.assignment_log;
SELECT (SELECT count(*) FROM segmentation.customer_metrics) + (SELECT count(*) FROM segmentation.segments)
       + (SELECT count(*) FROM segmentation.tracked_tables) AS left_behind;
