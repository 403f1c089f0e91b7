-- Criteria validation: every invalid document is refused with SQLSTATE 22023
-- and a message naming the path of the problem; nothing is stored.
\set VERBOSITY default
\set SHOW_CONTEXT never

-- Valid documents, including every key and the service's examples.
SELECT segmentation.check_criteria('{}');
SELECT segmentation.check_criteria('{"minLifetimeValue": 1000, "minOrders": 5, "loyaltyLevels": ["GOLD", "PLATINUM"]}');
SELECT segmentation.check_criteria('{"minDaysSinceLastPurchase": 90, "maxPurchaseFrequency": 0.5}');
SELECT segmentation.check_criteria('{"maxTenureDays": 30, "minOrders": 1}');
SELECT segmentation.check_criteria('{"minLifetimeValue": 1, "maxLifetimeValue": 2, "minOrders": 1, "maxOrders": 2,
  "minDaysSinceLastPurchase": 1, "maxDaysSinceLastPurchase": 2, "minPurchaseFrequency": 1, "maxPurchaseFrequency": 2,
  "minTenureDays": 1, "maxTenureDays": 2, "minAverageOrderValue": 1, "maxAverageOrderValue": 2,
  "loyaltyLevels": ["A"], "all": [{"minOrders": 1}], "any": [{"minOrders": 1}, {"maxOrders": 0}], "not": {"minOrders": 9}}');
SELECT segmentation.check_criteria('{"minOrders": 5, "maxOrders": 5}');            -- bounds are inclusive
SELECT segmentation.check_criteria('{"minOrders": 9, "all": [{"maxOrders": 5}]}'); -- ranges are per level

-- Each kind of mistake, with its SQLSTATE.
CREATE FUNCTION pg_temp.criteria_error(criteria text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM segmentation.check_criteria(criteria::jsonb);
    RETURN 'valid';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

SELECT document, pg_temp.criteria_error(document) AS error FROM (VALUES
    ('{"any": [{}, {"minOrders": -1}]}'),
    ('{"minOrders": "5"}'),
    ('{"minOrders": null}'),
    ('{"minLifetimeValue": true}'),
    ('{"maxTenureDays": -0.5}'),
    ('{"minOrders": 1e400}'),
    ('{"minLifetimeValue": 0.0000000000000000001}'),
    ('{"colour": "red"}'),
    ('{"minorders": 1}'),
    ('{"maxLifetimeValues": 1}'),
    ('{"all": [{"odd key": 1}]}'),
    ('[]'),
    ('"everyone"'),
    ('{"all": {}}'),
    ('{"any": []}'),
    ('{"any": [1]}'),
    ('{"not": []}'),
    ('{"loyaltyLevels": []}'),
    ('{"loyaltyLevels": "GOLD"}'),
    ('{"loyaltyLevels": ["GOLD", 7]}'),
    ('{"minOrders": 10, "maxOrders": 5}'),
    ('{"not": {"minLifetimeValue": 100.5, "maxLifetimeValue": 100.25}}'),
    ('{"any": [{"minDaysSinceLastPurchase": 30, "maxDaysSinceLastPurchase": 7}]}')
) AS t(document);

-- Nesting: 32 levels are allowed, 33 are not.
SELECT pg_temp.criteria_error(repeat('{"not": ', 31) || '{}' || repeat('}', 31)) AS thirty_two_levels;
SELECT pg_temp.criteria_error(repeat('{"not": ', 32) || '{}' || repeat('}', 32)) AS thirty_three_levels;
SELECT left(pg_temp.criteria_error(repeat('{"any": [', 3000) || '{}' || repeat(']}', 3000)), 80) AS very_deep;

-- A huge but shallow document is fine (and checked in full).
SELECT segmentation.check_criteria(('{"loyaltyLevels": [' || string_agg('"L' || g || '"', ',') || ']}')::jsonb)
FROM generate_series(1, 10000) g;

-- Invalid criteria never reach the table, however they are written.
SELECT segmentation.create_segment('Broken', '{"minOrders": -1}', true);
INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('Broken', '{"maxOrders": "x"}', true);
SELECT segmentation.create_segment('Fine', '{"minOrders": 1}', true) > 0 AS created;
UPDATE segmentation.segments SET criteria = '{"minOrders": 2, "maxOrders": 1}' WHERE name = 'Fine';
SELECT name, criteria FROM segmentation.segments ORDER BY name;
DELETE FROM segmentation.segments;
