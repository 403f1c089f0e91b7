-- The soak's shop: tracked, with the service's segments and a few more.
SET client_min_messages = warning;
CREATE EXTENSION segmentation;
SELECT segmentation.track_customers('shop.customers', 'id', 'created_at', 'loyalty_level');
SELECT segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at');
SELECT segmentation.create_segment('High Value', '{"minLifetimeValue": 1000, "minOrders": 5, "loyaltyLevels": ["GOLD", "PLATINUM"]}', true);
SELECT segmentation.create_segment('At Risk', '{"minDaysSinceLastPurchase": 90, "maxPurchaseFrequency": 0.5}', true);
SELECT segmentation.create_segment('New', '{"maxTenureDays": 30, "minOrders": 1}', true);
SELECT segmentation.create_segment('Big Baskets', '{"minAverageOrderValue": 150}', true);
SELECT segmentation.create_segment('Edited', '{"minOrders": 10}', true);
-- Edited online (criteria_edit_online.sql): one segment per client, since a
-- segment takes one online change at a time.
SELECT segmentation.create_segment('Online ' || c, '{"minOrders": 10}', true) FROM generate_series(0, 7) c;
SELECT segmentation.create_segment('VIP', '{}', false);
SELECT segmentation.create_segment('Support', '{}', false);
CREATE INDEX ON shop.orders (id);
