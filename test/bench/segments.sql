-- The benchmark's segments: the service's four examples (High Value, At Risk,
-- New, and VIP, manual) and 20 more automatic ones, 23 automatic in all, 3
-- of them on customer attributes. Every criteria is flat (single-level keys),
-- so the baseline can evaluate it with jsonb operators; together they use
-- every flat key of the language (attribute tests: in, equals, min, max,
-- isNull).
-- One INSERT, so the extension populates them in one statement.
INSERT INTO segmentation.segments (name, criteria, is_automatic, description) VALUES
    ('High Value',       '{"minLifetimeValue": 1000, "minOrders": 5, "loyaltyLevels": ["GOLD", "PLATINUM"]}', true, 'service example'),
    ('At Risk',          '{"minDaysSinceLastPurchase": 90, "maxPurchaseFrequency": 0.5}', true, 'service example'),
    ('New',              '{"maxTenureDays": 30, "minOrders": 1}', true, 'service example'),
    ('VIP',              '{}', false, 'service example, manual'),
    ('Big Spenders',     '{"minLifetimeValue": 2000}', true, NULL),
    ('Low Value',        '{"maxLifetimeValue": 100}', true, NULL),
    ('Frequent',         '{"minOrders": 15}', true, NULL),
    ('One-time',         '{"minOrders": 1, "maxOrders": 1}', true, NULL),
    ('Premium Basket',   '{"minAverageOrderValue": 150}', true, NULL),
    ('Small Basket',     '{"maxAverageOrderValue": 50, "minOrders": 3}', true, NULL),
    ('Active 30d',       '{"maxDaysSinceLastPurchase": 30}', true, NULL),
    ('Lapsed 1y',        '{"minDaysSinceLastPurchase": 365}', true, NULL),
    ('Dormant Gold',     '{"minDaysSinceLastPurchase": 180, "loyaltyLevels": ["GOLD", "PLATINUM"]}', true, NULL),
    ('Heavy Buyers',     '{"minPurchaseFrequency": 2}', true, NULL),
    ('Veterans',         '{"minTenureDays": 730}', true, NULL),
    ('Recent Joiners',   '{"maxTenureDays": 90.5}', true, NULL),
    ('Bronze',           '{"loyaltyLevels": ["BRONZE"]}', true, NULL),
    ('Silver Active',    '{"loyaltyLevels": ["SILVER"], "maxDaysSinceLastPurchase": 60}', true, NULL),
    ('Mid Value',        '{"minLifetimeValue": 500, "maxLifetimeValue": 1500.50}', true, NULL),
    ('Steady',           '{"minPurchaseFrequency": 0.5, "maxPurchaseFrequency": 1.5, "minTenureDays": 365}', true, NULL),
    ('Platinum Whales',  '{"loyaltyLevels": ["PLATINUM"], "minLifetimeValue": 3000, "minAverageOrderValue": 100}', true, NULL),
    -- Customer attributes (bench.pl adds country and birth_date to the shop).
    ('DACH',             '{"attributes": {"country": {"in": ["DE", "AT", "CH"]}, "birth_date": {"isNull": false}}}', true, NULL),
    ('Gold Germans',     '{"attributes": {"country": {"equals": "DE"}}, "loyaltyLevels": ["GOLD", "PLATINUM"], "minOrders": 3}', true, NULL),
    ('Born in the 80s',  '{"attributes": {"birth_date": {"min": "1980-01-01", "max": "1989-12-31"}}, "minLifetimeValue": 300}', true, NULL);

-- An admin hand-picks the ten customers with the highest lifetime value.
SELECT count(*) FILTER (WHERE segmentation.assign_manual_segment(customer_id, (SELECT id FROM segmentation.segments WHERE name = 'VIP')))
       AS vip_assigned
FROM (SELECT customer_id FROM segmentation.customer_metrics ORDER BY lifetime_value DESC, customer_id LIMIT 10) top;
