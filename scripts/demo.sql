-- The main job: a generated shop segmented inside PostgreSQL.
\set ON_ERROR_STOP on
\pset footer off
\if :{?customers}
\else
\set customers 100000
\endif

\echo '== generating a shop of' :customers 'customers with about ten orders each'
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS segmentation CASCADE;  -- a rerun starts from scratch
RESET client_min_messages;
\ir generate_shop.sql
SELECT (SELECT count(*) FROM shop.customers) AS customers, (SELECT count(*) FROM shop.orders) AS orders;

\echo '== tracking it: metrics are back-filled in one pass and kept live by triggers'
CREATE EXTENSION segmentation;
\timing on
SELECT segmentation.track_customers('shop.customers', 'id', 'created_at', 'loyalty_level') AS customers_tracked;
SELECT segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at') AS customers_with_metrics;

\echo '== the service''s example segments (each is populated as it is created)'
SELECT segmentation.create_segment('High Value', '{"minLifetimeValue": 1000, "minOrders": 5, "loyaltyLevels": ["GOLD", "PLATINUM"]}', true, 'Customers with high lifetime value') AS high_value;
SELECT segmentation.create_segment('At Risk', '{"minDaysSinceLastPurchase": 90, "maxPurchaseFrequency": 0.5}', true, 'Lapsed, infrequent buyers') AS at_risk;
SELECT segmentation.create_segment('New', '{"maxTenureDays": 30, "minOrders": 1}', true, 'Joined in the last 30 days and bought') AS new;
SELECT segmentation.create_segment('VIP', '{}', false, 'Hand-picked by the account team') AS vip;
-- An admin hand-picks the ten customers with the highest lifetime value.
SELECT count(*) FILTER (WHERE segmentation.assign_manual_segment(customer_id, (SELECT id FROM segmentation.segments WHERE name = 'VIP'))) AS vip_assigned
FROM (SELECT customer_id FROM segmentation.customer_metrics ORDER BY lifetime_value DESC, customer_id LIMIT 10) top;
\timing off

\echo '== segments and their members'
SELECT s.name, CASE WHEN s.is_automatic THEN 'automatic' ELSE 'manual' END AS kind,
       count(a.customer_id) AS members, s.criteria
FROM segmentation.get_all_segments() s
LEFT JOIN segmentation.assignments a ON a.segment_id = s.id
GROUP BY s.id, s.name, s.is_automatic, s.criteria
ORDER BY s.name;

-- A VIP who is also High Value, if there is one.
SELECT a.customer_id AS sample_customer
FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
WHERE s.name = 'VIP'
ORDER BY EXISTS (SELECT 1 FROM segmentation.assignments h JOIN segmentation.segments hs ON hs.id = h.segment_id
                 WHERE hs.name = 'High Value' AND h.customer_id = a.customer_id) DESC, a.customer_id
LIMIT 1 \gset

\echo '== customer' :sample_customer
SELECT customer_id, lifetime_value, order_count, last_order_at::date AS last_order, customer_since::date AS since, loyalty_level
FROM segmentation.customer_metrics WHERE customer_id = :sample_customer;
SELECT segment_id, name, is_automatic, assigned_at, assigned_by FROM segmentation.customer_segments(:sample_customer);

\echo '== live: an at-risk customer orders again, and leaves At Risk in the same statement'
SELECT a.customer_id AS lapsed_customer
FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
WHERE s.name = 'At Risk' ORDER BY a.customer_id LIMIT 1 \gset
SELECT name FROM segmentation.customer_segments(:lapsed_customer) ORDER BY name;
INSERT INTO shop.orders (customer_id, amount, ordered_at) VALUES (:lapsed_customer, 49.90, now());
SELECT name FROM segmentation.customer_segments(:lapsed_customer) ORDER BY name;
