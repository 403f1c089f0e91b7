-- Tracking orders, creating and editing segments, refreshing and
-- assign_automatic_segments() rewrite only the customer_metrics rows whose
-- stored values change (totals, a new due time), never the others: each step
-- is checked by comparing every row's version (ctid) and values before and
-- after. Dates are relative to now() and far from
-- every bound (tenures of 10, 400 and 2,000 days against bounds of 30 and
-- 365 days); as_of is now() throughout.
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE TABLE bloat_customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE bloat_orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id bigint NOT NULL,
                           amount numeric NOT NULL, ordered_at timestamptz NOT NULL);
INSERT INTO bloat_customers
SELECT g, now() - (ARRAY[10, 400, 2000])[g % 3 + 1] * interval '1 day', CASE WHEN g % 4 = 0 THEN 'GOLD' END
FROM generate_series(1, 3000) g;
-- Every other customer has orders (5 days ago); the others have none.
INSERT INTO bloat_orders (customer_id, amount, ordered_at)
SELECT g, g % 50, now() - interval '5 days' FROM generate_series(2, 3000, 2) g;
SELECT segmentation.track_customers('bloat_customers', 'id', 'created_at', 'tier');

-- Row versions and stored values as they stand.
CREATE TEMP TABLE seen (customer_id bigint PRIMARY KEY, tid tid, metrics text);
CREATE FUNCTION remember() RETURNS void LANGUAGE sql AS $$
    TRUNCATE seen;
    INSERT INTO seen SELECT customer_id, ctid, m::text FROM segmentation.customer_metrics m;
$$;
-- Rows rewritten since remember(), split by whether a stored value changed.
CREATE VIEW rewrites AS
    SELECT count(*) FILTER (WHERE s.metrics <> m::text) AS changed,
           count(*) FILTER (WHERE s.metrics = m::text) AS unchanged
    FROM seen s JOIN segmentation.customer_metrics m USING (customer_id) WHERE s.tid <> m.ctid;

-- Tracking the orders back-fills the customers who have some; the others
-- already hold zero totals and keep their row.
SELECT remember();
SELECT segmentation.track_orders('bloat_orders', 'customer_id', 'amount', 'ordered_at');
SELECT * FROM rewrites;

BEGIN;
SELECT remember();
-- Five segments at once, time-based ones included: a due time for the
-- customers they will be due for, nothing for the others.
INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES
    ('New',       '{"maxTenureDays": 30}', true),
    ('Veterans',  '{"minTenureDays": 365}', true),
    ('Gold',      '{"loyaltyLevels": ["GOLD"]}', true),
    ('Buyers',    '{"minOrders": 1}', true),
    ('Big',       '{"minLifetimeValue": 40}', true);
SELECT * FROM rewrites;
SELECT remember();
-- One at a time, again with the same bounds: no customer's due time moves.
SELECT segmentation.create_segment('New buyers', '{"maxTenureDays": 30, "minOrders": 1}', true) > 0 AS created;
SELECT segmentation.create_segment('Old buyers', '{"minTenureDays": 365, "minOrders": 1}', true) > 0 AS created;
SELECT * FROM rewrites;
SELECT remember();
-- An edit of criteria that moves members but no due time.
UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 20}' WHERE name = 'Big';
SELECT * FROM rewrites;
SELECT remember();
-- A refresh after all this has nothing left to write.
SELECT customers, added, removed FROM segmentation.refresh_all();
SELECT * FROM rewrites;
COMMIT;

BEGIN;
SELECT remember();
-- The "recalculate" button on customers with nothing to change: no write,
-- not even a row lock (which would stamp xmax on the row).
SELECT count(*) FILTER (WHERE r.added <> '{}' OR r.removed <> '{}') AS changed
FROM generate_series(1, 3000, 7) g, segmentation.assign_automatic_segments(g) r;
SELECT * FROM rewrites;
SELECT count(*) AS locked FROM segmentation.customer_metrics WHERE xmax = pg_current_xact_id()::xid;
COMMIT;

SELECT s.name, count(a.customer_id) AS members FROM segmentation.segments s
LEFT JOIN segmentation.assignments a ON a.segment_id = s.id GROUP BY s.name ORDER BY s.name;
SELECT count(*) AS drift FROM segmentation.verify(now());

SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DROP VIEW rewrites;
DROP FUNCTION remember();
DROP TABLE bloat_customers, bloat_orders;
DELETE FROM segmentation.segments;
DELETE FROM segmentation.assignment_log;
