-- Bulk refreshes stream every customer through two merged index scans, in
-- batches of 10,000. These run over several batches, after churn has left
-- dead index entries behind (which the scans skip and mark as they go), with
-- text keys (copied and compared, not passed by value).
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE TABLE bulk_customers (id text PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE bulk_orders (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, customer_id text NOT NULL,
                          amount numeric NOT NULL, ordered_at timestamptz NOT NULL);
CREATE INDEX ON bulk_orders (customer_id);
INSERT INTO bulk_customers
SELECT 'customer-' || lpad(g::text, 6, '0'), '2026-01-01'::timestamptz + g * interval '1 minute',
       CASE WHEN g % 3 = 0 THEN 'GOLD' END
FROM generate_series(1, 25000) g;
INSERT INTO bulk_orders (customer_id, amount, ordered_at)
SELECT id, 10, created_at + interval '1 day' FROM bulk_customers;
SELECT segmentation.track_customers('bulk_customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('bulk_orders', 'customer_id', 'amount', 'ordered_at');

CREATE VIEW bulk_members AS
    SELECT s.name, count(a.customer_id) AS members FROM segmentation.segments s
    LEFT JOIN segmentation.assignments a ON a.segment_id = s.id GROUP BY s.name ORDER BY s.name;

-- Populating a segment scans everyone (the back-fill above left dead rows).
SELECT segmentation.create_segment('Ten', '{"minLifetimeValue": 10}', true) > 0 AS created;
SELECT segmentation.create_segment('Gold', '{"loyaltyLevels": ["GOLD"]}', true) > 0 AS created;
SELECT * FROM bulk_members;

-- Churn: everyone leaves Ten and comes back, leaving dead assignments and metrics.
UPDATE bulk_orders SET amount = amount - 1;
SELECT * FROM bulk_members;
UPDATE bulk_orders SET amount = amount + 1;
SELECT * FROM bulk_members;

-- Nothing to change, then a redefinition that moves two thirds of Ten out.
SELECT * FROM segmentation.refresh_all();
UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 10, "loyaltyLevels": ["GOLD"]}' WHERE name = 'Ten';
SELECT * FROM bulk_members;
SELECT * FROM segmentation.refresh_all();

-- Drift planted in the middle of the key range, in each batch, is found and repaired.
DELETE FROM segmentation.assignments WHERE customer_id IN ('customer-000003', 'customer-012345', 'customer-024999');
SELECT customer_id, problem FROM segmentation.verify() ORDER BY 1, 2;
SELECT * FROM segmentation.refresh_all();
SELECT count(*) AS drift FROM segmentation.verify();
SELECT * FROM bulk_members;

-- refresh_due() over several batches of 1,000: 7,500 customers waiting at
-- -infinity (one due instant for all: batches continue by key), and about
-- 1,000 more due at three instants that repeat across batch boundaries. Each
-- due customer is refreshed exactly once (customers = due), none is left due.
SELECT segmentation.set_live_evaluation('bulk_orders', false);
UPDATE bulk_orders SET amount = 9 WHERE customer_id IN (SELECT id FROM bulk_customers WHERE id LIKE '%0' OR id LIKE '%5' OR id LIKE '%2');
SELECT segmentation.set_live_evaluation('bulk_orders', true);
SELECT count(*) AS waiting FROM segmentation.customer_metrics WHERE reevaluate_at = '-infinity';
UPDATE segmentation.customer_metrics SET reevaluate_at = now() - (hashtext(customer_id) % 3) * interval '1 hour'
WHERE customer_id IN (SELECT id FROM bulk_customers WHERE id LIKE '%7' OR id LIKE '%9')
  AND customer_id IN (SELECT id FROM bulk_customers ORDER BY id LIMIT 7500);
SELECT count(*) AS due FROM segmentation.customer_metrics WHERE reevaluate_at <= now();
SELECT * FROM segmentation.refresh_due();
SELECT count(*) AS still_due FROM segmentation.customer_metrics WHERE reevaluate_at <= now();
SELECT * FROM segmentation.refresh_due();
SELECT count(*) AS drift FROM segmentation.verify();
SELECT * FROM bulk_members;

SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DROP VIEW bulk_members;
DROP TABLE bulk_customers, bulk_orders;
DELETE FROM segmentation.segments;
DELETE FROM segmentation.assignment_log;
