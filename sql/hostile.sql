-- Hostile and malformed input: a catalogue of bad inputs and the exact error
-- each gets (SQLSTATE: message), then what is left behind: nothing. Each
-- catalogue lists one statement per bad input; pg_temp.outcome() runs it and
-- shows "-> result" or "SQLSTATE: message". Sections end with the state of
-- the extension's tables and verify()'s verdict.
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- Segment ids appear below: start them from 1 whatever ran before.
ALTER TABLE segmentation.segments ALTER COLUMN id RESTART WITH 1;

-- The outcome of a statement: the first column of its first row, or the error.
CREATE FUNCTION pg_temp.outcome(statement text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    result text;
BEGIN
    IF statement ~* '^\s*(SELECT|WITH|VALUES)' THEN
        EXECUTE statement INTO result;
        RETURN '-> ' || coalesce(result, 'NULL');
    END IF;
    EXECUTE statement;
    RETURN '-> done';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Only the SQLSTATE, where the message is not what the test is about.
CREATE FUNCTION pg_temp.sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;

-- Everything the extension writes, counted.
CREATE FUNCTION pg_temp.state() RETURNS text LANGUAGE sql AS $$
    SELECT format('%s segments, %s customers, %s assignments (%s manual), %s log rows, %s tracked tables',
                  (SELECT count(*) FROM segmentation.segments),
                  (SELECT count(*) FROM segmentation.customer_metrics),
                  (SELECT count(*) FROM segmentation.assignments),
                  (SELECT count(*) FROM segmentation.assignments WHERE NOT is_automatic),
                  (SELECT count(*) FROM segmentation.assignment_log),
                  (SELECT count(*) FROM segmentation.tracked_tables))
$$;

------------------------------------------------------------------------------
-- 1. Criteria, beyond sql/criteria.sql
------------------------------------------------------------------------------

-- Huge documents are fine, and checked in full: 100,000 loyalty levels;
-- 10,000 bounds at one level through an all[] of 10,000 objects; the same
-- with one bad bound at the very end; an object with 10,000 unknown keys.
SELECT segmentation.check_criteria(('{"loyaltyLevels": [' || string_agg('"L' || g || '"', ',') || ']}')::jsonb)
       AS hundred_thousand_levels
FROM generate_series(1, 100000) g;
SELECT segmentation.check_criteria(('{"all": [' || string_agg('{"minOrders": ' || g || '}', ',') || ']}')::jsonb)
       AS ten_thousand_bounds
FROM generate_series(1, 10000) g;
SELECT pg_temp.outcome(format('SELECT segmentation.check_criteria(%L)',
                              '{"all": [' || string_agg('{"minOrders": ' || g || '}', ',') || ', {"minOrders": -1}]}'))
       AS one_bad_bound_at_the_end
FROM generate_series(1, 9999) g;
SELECT pg_temp.outcome(format('SELECT segmentation.check_criteria(%L)',
                              '{' || string_agg(format('"k%s": %s', lpad(g::text, 5, '0'), g), ',') || '}'))
       AS ten_thousand_unknown_keys
FROM generate_series(1, 10000) g;

-- Deep nesting: 32 levels are allowed; past that the message names the path
-- down to level 33 while the document is within the JSON reader's own limit
-- (256 levels), and its first 100 bytes beyond it; jsonb refuses 100,000.
SELECT n AS levels, pg_temp.outcome(format('SELECT segmentation.check_criteria(%L)',
                                           repeat('{"not": ', n - 1) || '{}' || repeat('}', n - 1))) AS outcome
FROM unnest(ARRAY[32, 33, 100, 256, 257, 1000, 100000]) n;
SELECT n AS levels, pg_temp.outcome(format('SELECT segmentation.check_criteria(%L)',
                                           repeat('{"any": [{}, ', n - 1) || '{}' || repeat(']}', n - 1))) AS outcome
FROM unnest(ARRAY[32, 33, 128, 129, 5000]) n;

-- Strings: odd unicode and escapes are fine in loyalty levels and are named
-- in the paths of unknown keys. A zero-width space is shown as <U+200B>:
-- psql 15 gives it one column, psql 17 none.
SELECT document, replace(pg_temp.outcome(format('SELECT segmentation.check_criteria(%L)', document)),
                         chr(8203), '<U+200B>') AS outcome
FROM unnest(ARRAY[
    $j${"loyaltyLevels": ["GOLD\u00e9", "😀", "", " ", "\t", "\"quoted\"", "back\\slash", "new\nline", "\u001f", "\ud83d\ude00"]}$j$,
    $j${"mïnOrders": 1}$j$,
    $j${"minOrders\u200b": 1}$j$,
    $j${"MINORDERS": 1}$j$,
    $j${"": 1}$j$,
    $j${"😀": 1}$j$,
    $j${"all": [{"a\"b\\c": 1}]}$j$,
    $j${"all": [{"new\nline": 1}]}$j$,
    $j${"all": [{"a.b[0]": 1}]}$j$,
    $j${"minOrders": 1, "minOrders": 2}$j$,
    $j${"loyaltyLevels": [null]}$j$,
    $j${"loyaltyLevels": [["GOLD"]]}$j$,
    $j${"loyaltyLevels": [{"GOLD": 1}]}$j$,
    $j${"loyaltyLevels": [true]}$j$,
    $j${"loyaltyLevels": null}$j$,
    $j${"not": null}$j$,
    $j${"not": {}}$j$,
    $j${"all": [null]}$j$,
    $j${"minOrders": "NaN"}$j$,
    $j${"minOrders": "Infinity"}$j$,
    $j$null$j$,
    $j$123$j$
]) WITH ORDINALITY AS t(document, n) ORDER BY n;

-- jsonb itself refuses what cannot be a jsonb document.
SELECT document, pg_temp.outcome(format('SELECT segmentation.check_criteria(%L)', document)) AS outcome
FROM unnest(ARRAY[
    $j${"a": "\u0000"}$j$,
    $j${"a": "\ud800"}$j$,
    $j${"minOrders": NaN}$j$,
    $j${"minOrders": 1e1000000}$j$,
    $j${"minOrders": 1,}$j$
]) WITH ORDINALITY AS t(document, n) ORDER BY n;

-- Numbers: read from their decimal spelling, 18 decimal places at most, no
-- greater than 10^18.
SELECT document, pg_temp.outcome(format('SELECT segmentation.check_criteria(%L)', document)) AS outcome
FROM unnest(ARRAY[
    '{"minOrders": 1e-400}',
    '{"minOrders": -1e-400}',
    '{"minOrders": 0e-400}',
    '{"minOrders": 1E+18}',
    '{"minOrders": 1e18, "maxOrders": 1E+18}',
    '{"minOrders": 1E+19}',
    '{"minOrders": 1000000000000000000.000000000000000001}',
    '{"minOrders": 999999999999999999.999999999999999999}',
    '{"minOrders": 1.000000000000000000000}',
    '{"minOrders": 0.000000000000000001}',
    '{"minOrders": 1e-18}',
    '{"minOrders": 1e-19}',
    '{"minOrders": -0}',
    '{"minOrders": -0.0}',
    '{"minOrders": 5, "maxOrders": 4.999999999999999999}',
    '{"minLifetimeValue": 1e18, "maxLifetimeValue": 1000000000000000000.000000000000000000}'
]) WITH ORDINALITY AS t(document, n) ORDER BY n;

-- Huge criteria work in a segment too: a customer at level L99999 is in the
-- segment of 100,000 levels.
CREATE TABLE h_customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE h_orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint, amount numeric(12,2),
                       ordered_at timestamptz);
INSERT INTO h_customers VALUES (1, now() - interval '400 days', 'GOLD'), (2, now() - interval '100 days', 'L99999');
INSERT INTO h_orders (customer_id, amount, ordered_at) VALUES
    (1, 600, now() - interval '60 days'), (1, 500, now() - interval '40 days'), (2, 20, now() - interval '10 days');
SELECT segmentation.track_customers('h_customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('h_orders', 'customer_id', 'amount', 'ordered_at');
SELECT pg_temp.state() AS before;
SELECT segmentation.create_segment('Many levels',
           ('{"loyaltyLevels": [' || string_agg('"L' || g || '"', ',') || ']}')::jsonb, true) AS many_levels
FROM generate_series(1, 100000) g;
SELECT segmentation.create_segment('Many bounds',
           ('{"all": [' || string_agg('{"maxOrders": ' || g || '}', ',') || ']}')::jsonb, true) AS many_bounds
FROM generate_series(1, 10000) g;
SELECT s.name, array_agg(a.customer_id ORDER BY a.customer_id) AS members
FROM segmentation.segments s JOIN segmentation.assignments a ON a.segment_id = s.id GROUP BY s.name ORDER BY s.name;

-- Invalid criteria never reach the table, whichever way they come, and
-- leave nothing behind.
SELECT statement, pg_temp.outcome(statement) AS outcome
FROM unnest(ARRAY[
    $s$SELECT segmentation.create_segment('Deep', (repeat('{"not": ', 40) || '{}' || repeat('}', 40))::jsonb, true)$s$,
    $s$SELECT segmentation.create_segment('Tiny', '{"minOrders": 1e-400}', true)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('Huge', '{"minOrders": 1E+19}', true)$s$,
    $s$UPDATE segmentation.segments SET criteria = '{"all": [{"minOrders": 2}, {"maxOrders": 1, "minOrders": 3}]}' WHERE name = 'Many bounds'$s$,
    $s$UPDATE segmentation.segments SET criteria = '{"loyaltyLevels": []}' WHERE name = 'Many levels'$s$
]) WITH ORDINALITY AS t(statement, n) ORDER BY n;
DELETE FROM segmentation.segments;
SELECT pg_temp.state() AS after, (SELECT count(*) FROM segmentation.verify()) AS drift;
DELETE FROM segmentation.assignment_log;

------------------------------------------------------------------------------
-- 2. NULL for every argument of every API function (a bigint shop)
------------------------------------------------------------------------------

ALTER TABLE segmentation.segments ALTER COLUMN id RESTART WITH 1;
SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 1000}', true) AS big,   -- 1
       segmentation.create_segment('VIP', '{}', false) AS vip,                          -- 2
       segmentation.create_segment('Recent', '{"maxDaysSinceLastPurchase": 30}', true) AS recent;  -- 3
SELECT segmentation.assign_manual_segment(2, 2) AS vip_assigned;
SELECT pg_temp.state() AS before;

SELECT statement, pg_temp.outcome(statement) AS outcome
FROM unnest(ARRAY[
    $s$SELECT segmentation.create_segment(NULL, '{}', false)$s$,
    $s$SELECT segmentation.create_segment('Null', NULL, false)$s$,
    $s$SELECT segmentation.create_segment('Null', '{}', NULL)$s$,
    $s$SELECT segmentation.check_criteria(NULL)$s$,
    $s$SELECT segmentation.segment_match(NULL::segmentation.customer_metrics, '{}')$s$,
    $s$SELECT segmentation.segment_match(m, NULL) FROM segmentation.customer_metrics m WHERE customer_id = 1$s$,
    $s$SELECT segmentation.segment_match(m, '{}', NULL) FROM segmentation.customer_metrics m WHERE customer_id = 1$s$,
    $s$SELECT segmentation.segment_match(NULL::text, '{}')$s$,
    $s$SELECT segmentation.segment_match('1'::text, NULL)$s$,
    $s$SELECT segmentation.segment_match('1'::text, '{}', NULL)$s$,
    $s$SELECT segmentation.segment_match(NULL::bigint, '{}')$s$,
    $s$SELECT segmentation.segment_match(1::bigint, NULL)$s$,
    $s$SELECT segmentation.segment_match(1::bigint, '{}', NULL)$s$,
    $s$SELECT segmentation.segment_match(NULL::uuid, '{}')$s$,
    $s$SELECT segmentation.segment_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, NULL)$s$,
    $s$SELECT segmentation.calculate_automatic_segments(NULL::text)$s$,
    $s$SELECT segmentation.calculate_automatic_segments('1'::text, NULL)$s$,
    $s$SELECT segmentation.calculate_automatic_segments(NULL::bigint)$s$,
    $s$SELECT segmentation.calculate_automatic_segments(1::bigint, NULL)$s$,
    $s$SELECT segmentation.calculate_automatic_segments(NULL::uuid)$s$,
    $s$SELECT segmentation.calculate_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, NULL)$s$,
    $s$SELECT segmentation.next_change_at(NULL::segmentation.customer_metrics)$s$,
    $s$SELECT segmentation.next_change_at(m, NULL) FROM segmentation.customer_metrics m WHERE customer_id = 1$s$,
    $s$SELECT * FROM segmentation.customer_segments(NULL::text)$s$,
    $s$SELECT * FROM segmentation.customer_segments(NULL::bigint)$s$,
    $s$SELECT * FROM segmentation.customer_segments(NULL::uuid)$s$,
    $s$SELECT * FROM segmentation.assign_automatic_segments(NULL::text)$s$,
    $s$SELECT * FROM segmentation.assign_automatic_segments(NULL::bigint)$s$,
    $s$SELECT * FROM segmentation.assign_automatic_segments(NULL::uuid)$s$,
    $s$SELECT segmentation.assign_manual_segment(NULL::text, 2)$s$,
    $s$SELECT segmentation.assign_manual_segment('1'::text, NULL)$s$,
    $s$SELECT segmentation.assign_manual_segment(NULL::bigint, 2)$s$,
    $s$SELECT segmentation.assign_manual_segment(1::bigint, NULL)$s$,
    $s$SELECT segmentation.assign_manual_segment(NULL::uuid, 2)$s$,
    $s$SELECT segmentation.assign_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, NULL)$s$,
    $s$SELECT segmentation.remove_manual_segment(NULL::text, 2)$s$,
    $s$SELECT segmentation.remove_manual_segment('1'::text, NULL)$s$,
    $s$SELECT segmentation.remove_manual_segment('1'::text, 2, NULL)$s$,
    $s$SELECT segmentation.remove_manual_segment(NULL::bigint, 2)$s$,
    $s$SELECT segmentation.remove_manual_segment(1::bigint, NULL)$s$,
    $s$SELECT segmentation.remove_manual_segment(1::bigint, 2, NULL)$s$,
    $s$SELECT segmentation.remove_manual_segment(NULL::uuid, 2)$s$,
    $s$SELECT segmentation.remove_manual_segment('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, NULL)$s$,
    $s$SELECT * FROM segmentation.refresh_due(NULL)$s$,
    $s$SELECT count(*) FROM segmentation.verify(NULL)$s$,
    $s$SELECT count(*) FROM segmentation.member_counts(NULL, now() - interval '1 day', now(), interval '1 hour')$s$,
    $s$SELECT count(*) FROM segmentation.member_counts(1, NULL, now(), interval '1 hour')$s$,
    $s$SELECT count(*) FROM segmentation.member_counts(1, now() - interval '1 day', NULL, interval '1 hour')$s$,
    $s$SELECT count(*) FROM segmentation.member_counts(1, now() - interval '1 day', now(), NULL)$s$,
    $s$SELECT segmentation.schedule_refresh(NULL)$s$,
    $s$SELECT segmentation.set_live_evaluation(NULL, false)$s$,
    $s$SELECT segmentation.set_live_evaluation('h_orders', NULL)$s$,
    $s$SELECT segmentation.track_customers(NULL, 'id', 'created_at', 'tier')$s$,
    $s$SELECT segmentation.track_customers('h_customers', NULL, 'created_at', 'tier')$s$,
    $s$SELECT segmentation.track_customers('h_customers', 'id', NULL, 'tier')$s$,
    $s$SELECT segmentation.track_customers('h_customers', 'id', 'created_at', NULL)$s$,
    $s$SELECT segmentation.track_orders(NULL, 'customer_id', 'amount', 'ordered_at')$s$,
    $s$SELECT segmentation.track_orders('h_orders', NULL, 'amount', 'ordered_at')$s$,
    $s$SELECT segmentation.track_orders('h_orders', 'customer_id', NULL, 'ordered_at')$s$,
    $s$SELECT segmentation.track_orders('h_orders', 'customer_id', 'amount', NULL)$s$
]) WITH ORDINALITY AS t(statement, n) ORDER BY n;
SELECT pg_temp.state() AS after, (SELECT count(*) FROM segmentation.verify()) AS drift;

------------------------------------------------------------------------------
-- 3. Unknown customers and segments, and ids that cannot be keys
------------------------------------------------------------------------------

SELECT statement, pg_temp.outcome(statement) AS outcome
FROM unnest(ARRAY[
    $s$SELECT segmentation.segment_match(999::bigint, '{}')$s$,
    $s$SELECT segmentation.segment_match('999', '{}')$s$,
    $s$SELECT segmentation.segment_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{}')$s$,
    $s$SELECT segmentation.calculate_automatic_segments(999)$s$,
    $s$SELECT segmentation.calculate_automatic_segments('999')$s$,
    $s$SELECT * FROM segmentation.customer_segments(999)$s$,
    $s$SELECT * FROM segmentation.customer_segments('999')$s$,
    $s$SELECT * FROM segmentation.assign_automatic_segments(999)$s$,
    $s$SELECT * FROM segmentation.assign_automatic_segments('999')$s$,
    $s$SELECT segmentation.assign_manual_segment(999, 2)$s$,
    $s$SELECT segmentation.assign_manual_segment(1, 999)$s$,
    $s$SELECT segmentation.assign_manual_segment(999, 999)$s$,
    $s$SELECT segmentation.assign_manual_segment(1, 1)$s$,
    $s$SELECT segmentation.assign_manual_segment(1, 0)$s$,
    $s$SELECT segmentation.assign_manual_segment(1, -1)$s$,
    $s$SELECT segmentation.assign_manual_segment(1, 9223372036854775807)$s$,
    $s$SELECT segmentation.remove_manual_segment(999, 2, 'gone')$s$,
    $s$SELECT segmentation.remove_manual_segment(1, 999)$s$,
    $s$SELECT segmentation.remove_manual_segment(1, 1)$s$,
    $s$SELECT segmentation.remove_manual_segment(1, 2)$s$,
    $s$SELECT max(members) FROM segmentation.member_counts(999, now() - interval '1 day', now(), interval '1 hour')$s$,
    $s$SELECT segmentation.next_change_at(ROW(999, 0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::segmentation.customer_metrics)$s$,
    -- Ids that cannot name a bigint customer, and some that can.
    $s$SELECT segment_id FROM segmentation.customer_segments('')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments(' 1 ')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments('+1')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments('-0')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments('1.0')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments('1e3')$s$,
    -- (Hexadecimal, '0x10', is a bigint from PostgreSQL 16 on.)
    $s$SELECT segment_id FROM segmentation.customer_segments('0x')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments('１')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments('NaN')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments(E'1\n')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments('9223372036854775807')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments('9223372036854775808')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments('-9223372036854775809')$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments(repeat('9', 40))$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments(1::smallint)$s$,
    $s$SELECT segment_id FROM segmentation.customer_segments(1.0)$s$
]) WITH ORDINALITY AS t(statement, n) ORDER BY n;
SELECT pg_temp.state() AS after, (SELECT count(*) FROM segmentation.verify()) AS drift;

------------------------------------------------------------------------------
-- 4. Segment names, other arguments and settings
------------------------------------------------------------------------------

SELECT statement, pg_temp.outcome(statement) AS outcome
FROM unnest(ARRAY[
    $s$SELECT segmentation.create_segment('', '{}', false)$s$,
    $s$SELECT segmentation.create_segment('   ', '{}', false)$s$,
    $s$SELECT segmentation.create_segment(E'\t\r\n', '{}', false)$s$,
    $s$SELECT segmentation.create_segment('VIP', '{}', false)$s$,
    $s$SELECT segmentation.create_segment('VIP', '{"minOrders": 1}', true)$s$,
    $s$SELECT segmentation.create_segment('vip', '{}', false)$s$,
    $s$SELECT segmentation.create_segment(' VIP', '{}', false)$s$,
    $s$SELECT segmentation.create_segment(E'\u00a0', '{}', false)$s$,
    $s$SELECT segmentation.create_segment(repeat('x', 10000), '{}', false) > 0$s$,
    $s$SELECT segmentation.create_segment(repeat('x', 201), '{}', false) > 0$s$,
    $s$SELECT segmentation.create_segment(repeat('x', 200), '{}', false) > 0$s$,
    $s$SELECT segmentation.create_segment(E' \t Padded \n', '{}', false) > 0$s$,
    $s$SELECT name FROM segmentation.segments WHERE name LIKE '%Padded%'$s$,
    $s$SELECT segmentation.create_segment('Manual', '{"minOrders": 1}', false)$s$,
    $s$SELECT segmentation.create_segment('Manual', '{"minOrders": -1}', false)$s$,
    $s$SELECT segmentation.update_segment(2, name => 'big')$s$,
    $s$SELECT segmentation.update_segment(2, name => ' ')$s$,
    $s$SELECT segmentation.update_segment(2, criteria => '{"minOrders": 1}')$s$,
    $s$SELECT segmentation.update_segment(1, criteria => '{"minOrders": "1"}')$s$,
    $s$SELECT segmentation.update_segment(999, name => 'Nobody')$s$,
    $s$SELECT segmentation.update_segment(NULL, name => 'Nobody')$s$,
    $s$SELECT segmentation.delete_segment(999)$s$,
    $s$SELECT segmentation.delete_segment(NULL)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('vip', '{}', false)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES (' Spaced', '{}', false)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES (repeat('y', 201), '{}', false)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('Manual', '{"minOrders": 1}', false)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('', '{}', false)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('   ', '{}', false)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES (E'\t', '{}', false)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('VIP', '{}', false)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES (NULL, '{}', false)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('No kind', '{}', NULL)$s$,
    $s$INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES ('No criteria', NULL, false)$s$,
    $s$UPDATE segmentation.segments SET name = '' WHERE name = 'VIP'$s$,
    $s$UPDATE segmentation.segments SET name = 'Big' WHERE name = 'VIP'$s$,
    $s$UPDATE segmentation.segments SET is_automatic = true WHERE name = 'VIP'$s$,
    $s$UPDATE segmentation.segments SET id = 100 WHERE name = 'VIP'$s$,
    $s$SELECT segmentation.remove_manual_segment(2, 2, repeat('why? ', 2000)) AND segmentation.assign_manual_segment(2, 2)$s$,
    $s$SELECT length(reason) FROM segmentation.assignment_log WHERE reason IS NOT NULL$s$,
    $s$SELECT segmentation.schedule_refresh('')$s$,
    $s$SELECT segmentation.unschedule_refresh()$s$
]) WITH ORDINALITY AS t(statement, n) ORDER BY n;

-- Long names and ids in messages: the message stays whole and valid UTF-8.
-- (Names stop at 200 characters, not bytes: 200 two-byte characters.)
SELECT segmentation.create_segment(repeat('ü', 200), '{}', false) > 0 AS long_name_created;
SELECT right(pg_temp.outcome($s$SELECT segmentation.create_segment(repeat('ü', 200), '{}', false)$s$), 40)
       AS end_of_the_message;
SELECT right(pg_temp.outcome($s$SELECT segmentation.assign_manual_segment(repeat('9', 3000), 2)$s$), 40)
       AS end_of_the_message;

-- The actor setting takes any text.
BEGIN;
SET LOCAL segmentation.actor = E'O''Brien; DROP TABLE h_orders; --\n😀';
SELECT segmentation.assign_manual_segment(1, 2) AS assigned;
SELECT actor FROM segmentation.assignment_log WHERE customer_id = 1 AND segment_id = 2;
ROLLBACK;

DELETE FROM segmentation.segments WHERE id > 3;
SELECT pg_temp.state() AS after, (SELECT count(*) FROM segmentation.verify()) AS drift;

------------------------------------------------------------------------------
-- 5. Instants and amounts at the edges
------------------------------------------------------------------------------

SELECT statement, pg_temp.outcome(statement) AS outcome
FROM unnest(ARRAY[
    $s$SELECT segmentation.segment_match(2, '{"maxDaysSinceLastPurchase": 30}', 'infinity')$s$,
    $s$SELECT segmentation.segment_match(2, '{"maxDaysSinceLastPurchase": 30}', '-infinity')$s$,
    $s$SELECT segmentation.segment_match(2, '{"minTenureDays": 1e18}', 'infinity')$s$,
    $s$SELECT segmentation.segment_match(2, '{"minPurchaseFrequency": 0.000000000000000001}', 'infinity')$s$,
    $s$SELECT segmentation.calculate_automatic_segments(2, 'infinity')$s$,
    $s$SELECT segmentation.calculate_automatic_segments(2, '-infinity')$s$,
    $s$SELECT segmentation.next_change_at(m, 'infinity') FROM segmentation.customer_metrics m WHERE customer_id = 2$s$,
    $s$SELECT count(*) FROM segmentation.verify('infinity')$s$,
    $s$SELECT customers FROM segmentation.refresh_due('-infinity')$s$,
    $s$SELECT segmentation.segment_match(ROW(1, 'NaN', 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::segmentation.customer_metrics, '{}')$s$,
    $s$SELECT segmentation.segment_match(ROW(1, 1e19, 1, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)::segmentation.customer_metrics, '{}')$s$,
    $s$SELECT segmentation.segment_match(ROW(1, 100, 0, NULL, 'infinity', '-infinity', NULL, NULL, NULL, NULL, NULL)::segmentation.customer_metrics, '{"minPurchaseFrequency": 0}')$s$,
    $s$SELECT count(*) FROM segmentation.member_counts(1, now(), now() + interval '1 day', interval '0')$s$,
    $s$SELECT count(*) FROM segmentation.member_counts(1, now(), now() + interval '1 day', interval '-1 hour')$s$,
    $s$SELECT count(*) FROM segmentation.member_counts(1, now(), now() - interval '1 day', interval '1 hour')$s$,
    -- Amounts the metrics cannot hold are refused with the order.
    $s$INSERT INTO h_orders (customer_id, amount, ordered_at) VALUES (2, 'NaN', now())$s$
]) WITH ORDINALITY AS t(statement, n) ORDER BY n;

-- member_counts() over an unbounded range: a clear error, at once (it must
-- not run until the statement timeout stops it).
-- (Bounded here by a statement timeout and a temporary file limit.)
CREATE FUNCTION pg_temp.sqlstate_or_cancel(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS OR query_canceled THEN
    RETURN SQLSTATE;
END $$;
BEGIN;
SET LOCAL statement_timeout = '2s';
SET LOCAL temp_file_limit = '64MB';
SELECT pg_temp.sqlstate_or_cancel($s$SELECT count(*) FROM segmentation.member_counts(1, '-infinity', now(), interval '1 day')$s$)
       AS from_minus_infinity;
SELECT pg_temp.sqlstate_or_cancel($s$SELECT count(*) FROM segmentation.member_counts(1, now(), 'infinity', interval '1 day')$s$)
       AS to_infinity;
COMMIT;
SELECT pg_temp.state() AS after, (SELECT count(*) FROM segmentation.verify()) AS drift;

-- Orders at infinite instants are data like any other.
INSERT INTO h_orders (customer_id, amount, ordered_at) VALUES (2, 5, 'infinity'), (2, 5, '-infinity');
SELECT customer_id, lifetime_value, order_count, first_order_at, last_order_at FROM segmentation.customer_metrics
WHERE customer_id = 2;
SELECT name FROM segmentation.customer_segments(2) ORDER BY name;
SELECT count(*) AS drift FROM segmentation.verify();
DELETE FROM h_orders WHERE ordered_at IN ('infinity', '-infinity');
SELECT count(*) AS drift FROM segmentation.verify();

------------------------------------------------------------------------------
-- 6. Tracking: tables and columns that do not exist or do not fit
------------------------------------------------------------------------------

SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
CREATE VIEW h_view AS SELECT * FROM h_customers;
CREATE MATERIALIZED VIEW h_matview AS SELECT * FROM h_customers;
CREATE SEQUENCE h_sequence;
CREATE INDEX h_index ON h_customers (created_at);
CREATE TYPE h_composite AS (a int);
CREATE TABLE h_kinds (id bigint, created_at timestamptz, day date, at timestamp, tier text, amount numeric,
                      f float8, r real, flag boolean, i int, js jsonb, ids bigint[], label varchar(10), code char(3),
                      money_amount money, "Odd ""col""" text, gen bigint GENERATED ALWAYS AS (id * 2) STORED);
SELECT pg_temp.state() AS before;

SELECT statement, pg_temp.outcome(statement) AS outcome
FROM unnest(ARRAY[
    $s$SELECT segmentation.track_customers('h_nope', 'id', 'created_at')$s$,
    -- (A missing schema is reported by PostgreSQL, differently before 16.)
    $s$SELECT segmentation.track_customers('public.h_nope', 'id', 'created_at')$s$,
    $s$SELECT segmentation.track_customers(0::oid::regclass, 'id', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('h_view', 'id', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('h_matview', 'id', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('h_sequence', 'id', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('h_index', 'id', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('pg_catalog.pg_class', 'oid', 'relname')$s$,
    $s$SELECT segmentation.track_customers('information_schema.tables', 'table_name', 'table_name')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'identifier', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'ID', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', '', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'id', 'created_at', 'nope')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'ctid', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'id', 'xmin')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'id', 'created_at', 'Odd "col"')$s$,
    $s$SELECT segmentation.untrack_customers()$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'ids', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'amount', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'code', 'created_at')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'id', 'tier')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'id', 'i')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'id', 'created_at', 'js')$s$,
    $s$SELECT segmentation.track_customers('h_kinds', 'id', 'created_at', 'amount')$s$,
    $s$SELECT segmentation.track_orders('h_kinds', 'id', 'f', 'created_at')$s$,
    $s$SELECT segmentation.track_orders('h_kinds', 'id', 'r', 'created_at')$s$,
    $s$SELECT segmentation.track_orders('h_kinds', 'id', 'flag', 'created_at')$s$,
    $s$SELECT segmentation.track_orders('h_kinds', 'id', 'tier', 'created_at')$s$,
    $s$SELECT segmentation.track_orders('h_kinds', 'id', 'amount', 'tier')$s$,
    $s$SELECT segmentation.track_orders('h_kinds', 'js', 'amount', 'created_at')$s$,
    $s$SELECT segmentation.track_orders('h_kinds', 'id', 'nope', 'created_at')$s$,
    $s$SELECT segmentation.set_live_evaluation('h_kinds', false)$s$,
    $s$SELECT segmentation.set_live_evaluation(0::oid::regclass, false)$s$,
    $s$SELECT segmentation.untrack_customers()$s$,
    $s$SELECT segmentation.untrack_orders()$s$
]) WITH ORDINALITY AS t(statement, n) ORDER BY n;
SELECT pg_temp.state() AS after;

-- The extension's own tables cannot be tracked (the triggers would feed on
-- their own writes).
SELECT relation, pg_temp.sqlstate_of(statement) AS sqlstate
FROM (VALUES
    ('segmentation.assignment_log',
     $s$SELECT segmentation.track_orders('segmentation.assignment_log', 'customer_id', 'segment_id', 'logged_at')$s$),
    ('segmentation.customer_metrics',
     $s$SELECT segmentation.track_customers('segmentation.customer_metrics', 'customer_id', 'customer_since', 'loyalty_level')$s$),
    ('segmentation.customer_metrics',
     $s$SELECT segmentation.track_orders('segmentation.customer_metrics', 'customer_id', 'lifetime_value', 'last_order_at')$s$),
    ('segmentation.segments',
     $s$SELECT segmentation.track_customers('segmentation.segments', 'id', 'created_at', 'name')$s$),
    ('segmentation.assignments',
     $s$SELECT segmentation.track_orders('segmentation.assignments', 'customer_id', 'segment_id', 'assigned_at')$s$)
) AS t(relation, statement);
SELECT pg_temp.state() AS after;
-- (Whatever those calls tracked is untracked before going on.)
DO $$ BEGIN PERFORM segmentation.untrack_orders(); PERFORM segmentation.untrack_customers(); END $$;

-- Tracking twice, a second table, keys of another kind; each leaves the
-- tracking as it was. (Plain statements: their DETAIL and HINT show too.)
SELECT segmentation.track_customers('h_customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('h_orders', 'customer_id', 'amount', 'ordered_at');
SELECT segmentation.track_customers('h_customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_customers('h_kinds', 'id', 'created_at');
SELECT segmentation.track_orders('h_orders', 'customer_id', 'amount', 'ordered_at');
SELECT segmentation.track_orders('h_kinds', 'id', 'amount', 'created_at');
SELECT segmentation.untrack_orders();
SELECT segmentation.track_orders('h_kinds', 'label', 'amount', 'created_at');
SELECT segmentation.track_orders('h_orders', 'customer_id', 'amount', 'ordered_at');
SELECT segmentation.set_live_evaluation('h_kinds', true);
SELECT kind, relation, customer_column, time_column, amount_column, loyalty_column, live
FROM segmentation.tracked_tables ORDER BY kind;
SELECT pg_temp.state() AS after, (SELECT count(*) FROM segmentation.verify()) AS drift;

------------------------------------------------------------------------------
-- 7. Dropping, renaming and retyping what is tracked
------------------------------------------------------------------------------

-- Tracked tables and columns cannot be dropped, by any route.
DROP TABLE h_orders;
DROP TABLE h_customers CASCADE;
ALTER TABLE h_orders DROP COLUMN amount;
ALTER TABLE h_orders DROP COLUMN ordered_at CASCADE;
ALTER TABLE h_customers DROP COLUMN tier CASCADE;
ALTER TABLE h_customers DROP COLUMN id CASCADE;
DROP TABLE h_kinds, h_orders;
SELECT pg_temp.state() AS after, (SELECT count(*) FROM segmentation.verify()) AS drift;

-- The extension's own triggers on a tracked table are part of the tracking:
-- dropping one must not silently stop the metrics (it may be refused).
DO $$ BEGIN DROP TRIGGER segmentation_orders_insert ON h_orders; EXCEPTION WHEN OTHERS THEN NULL; END $$;
INSERT INTO h_orders (customer_id, amount, ordered_at) VALUES (2, 1000, now() - interval '1 day');
SELECT customer_id, lifetime_value, order_count FROM segmentation.customer_metrics ORDER BY 1;
SELECT count(*) AS drift FROM segmentation.verify();
DELETE FROM h_orders WHERE amount = 1000;
-- (Tracking again puts the triggers back, whatever happened.)
SELECT segmentation.untrack_orders(), segmentation.track_orders('h_orders', 'customer_id', 'amount', 'ordered_at');
SELECT count(*) AS drift FROM segmentation.verify();

-- Renaming the table or its schema: tracking follows.
CREATE SCHEMA "Hostile ""Shop""";
ALTER TABLE h_orders SET SCHEMA "Hostile ""Shop""";
ALTER TABLE "Hostile ""Shop""".h_orders RENAME TO "Orders ""2025""";
INSERT INTO "Hostile ""Shop"""."Orders ""2025""" (customer_id, amount, ordered_at) VALUES (2, 30, now() - interval '1 day');
SELECT relation FROM segmentation.tracked_tables WHERE kind = 'orders';
SELECT customer_id, lifetime_value, order_count FROM segmentation.customer_metrics ORDER BY 1;
SELECT count(*) AS drift FROM segmentation.verify();
ALTER TABLE "Hostile ""Shop"""."Orders ""2025""" RENAME TO h_orders;
ALTER TABLE "Hostile ""Shop""".h_orders SET SCHEMA public;
DROP SCHEMA "Hostile ""Shop""";

-- Renaming a tracked column: the metrics must stay exact (the rename may be
-- followed, or refused). The inserts name no column, so they are the same
-- either way.
ALTER TABLE h_orders RENAME COLUMN ordered_at TO placed_at;
INSERT INTO h_orders VALUES (DEFAULT, 2, 40, now() - interval '1 day');
ALTER TABLE h_customers RENAME COLUMN tier TO level;
INSERT INTO h_customers VALUES (3, now() - interval '1 day', 'GOLD');
UPDATE h_customers SET created_at = created_at - interval '1 day' WHERE id = 3;
SELECT customer_id, lifetime_value, order_count, loyalty_level FROM segmentation.customer_metrics ORDER BY 1;
SELECT count(*) AS drift FROM segmentation.verify();
DO $$ BEGIN ALTER TABLE h_customers RENAME COLUMN level TO tier; EXCEPTION WHEN OTHERS THEN NULL; END $$;
DO $$ BEGIN ALTER TABLE h_orders RENAME COLUMN placed_at TO ordered_at; EXCEPTION WHEN OTHERS THEN NULL; END $$;
SELECT customer_column, time_column, amount_column, loyalty_column FROM segmentation.tracked_tables ORDER BY kind;

-- Retyping a tracked column is refused (2BP01), even to a type tracking
-- accepts: the rewrite would change its values without a trigger.
SELECT column_type, pg_temp.sqlstate_of(format('ALTER TABLE h_orders ALTER COLUMN amount TYPE %s USING amount::%s',
                                               column_type, column_type)) AS sqlstate
FROM unnest(ARRAY['text', 'float8', 'money', 'numeric(20,4)']) AS column_type;
INSERT INTO h_orders (customer_id, amount, ordered_at) VALUES (2, 0.0001, now() - interval '1 day');
SELECT customer_id, lifetime_value, order_count FROM segmentation.customer_metrics ORDER BY 1;
SELECT count(*) AS drift FROM segmentation.verify();
SELECT pg_temp.state() AS after;

-- Columns dropped behind the event triggers' back (they do not fire for a
-- session in replica mode): every statement that needs them stops with a
-- clear error and writes nothing. Membership is kept from the metrics, so
-- refresh_all() still runs; tracking again repairs the rest.
CREATE TABLE h_backdoor_customers AS SELECT * FROM h_customers;
CREATE TABLE h_backdoor_orders AS SELECT * FROM h_orders;
SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
SELECT segmentation.track_customers('h_backdoor_customers', 'id', 'created_at', 'tier') AS customers,
       segmentation.track_orders('h_backdoor_orders', 'customer_id', 'amount', 'ordered_at') AS orders;
SELECT pg_temp.state() AS before;
SELECT md5(string_agg(m::text, ';' ORDER BY customer_id)) AS metrics_before FROM segmentation.customer_metrics m \gset
SET session_replication_role = replica;
ALTER TABLE h_backdoor_customers DROP COLUMN tier;
ALTER TABLE h_backdoor_orders DROP COLUMN amount;
RESET session_replication_role;
SELECT statement, pg_temp.outcome(statement) AS outcome
FROM unnest(ARRAY[
    $s$INSERT INTO h_backdoor_orders (customer_id, ordered_at) SELECT 1 + g % 3, now() FROM generate_series(1, 1000) g$s$,
    $s$UPDATE h_backdoor_orders SET ordered_at = ordered_at - interval '1 day'$s$,
    $s$DELETE FROM h_backdoor_orders WHERE customer_id = 1$s$,
    $s$UPDATE h_backdoor_customers SET created_at = created_at - interval '1 day'$s$,
    $s$INSERT INTO h_backdoor_customers (id, created_at) VALUES (4, now())$s$,
    $s$SELECT count(*) FROM segmentation.verify()$s$,
    $s$SELECT customers FROM segmentation.refresh_all()$s$
]) AS statement;
SELECT pg_temp.state() AS after,
       md5(string_agg(m::text, ';' ORDER BY customer_id)) = :'metrics_before' AS metrics_unchanged
FROM segmentation.customer_metrics m;
SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
SELECT segmentation.track_customers('h_customers', 'id', 'created_at', 'tier') AS customers,
       segmentation.track_orders('h_orders', 'customer_id', 'amount', 'ordered_at') AS orders;
SELECT count(*) AS drift FROM segmentation.verify();
DROP TABLE h_backdoor_customers, h_backdoor_orders;

------------------------------------------------------------------------------
-- 8. Segment references and overrides (1.1), beyond sql/membership.sql and
--    sql/overrides.sql
------------------------------------------------------------------------------

SELECT segmentation.create_segment('Ref base', '{"minOrders": 1}', true) AS ref_base,
       segmentation.create_segment('Ref hand', '{}', false) AS ref_hand \gset
SELECT segmentation.create_segment('Ref user', format('{"inSegment": %s}', :ref_base)::jsonb, true) AS ref_user \gset
SELECT pg_temp.state() AS before, (SELECT count(*) FROM segmentation.overrides) AS overrides;

-- Segment ids: positive JSON integers up to 2^63 - 1, written plainly
-- (1e2 reaches the extension as jsonb's 100, and is segment 100).
SELECT statement, pg_temp.outcome(statement) AS outcome
FROM unnest(ARRAY[
    $s$SELECT segmentation.check_criteria('{"inSegment": 0}')$s$,
    $s$SELECT segmentation.check_criteria('{"inSegment": -1}')$s$,
    $s$SELECT segmentation.check_criteria('{"inSegment": 1.0}')$s$,
    $s$SELECT segmentation.check_criteria('{"inSegment": 1e2}')$s$,
    $s$SELECT segmentation.check_criteria('{"inSegment": 9223372036854775807}')$s$,
    $s$SELECT segmentation.check_criteria('{"inSegment": 9223372036854775808}')$s$,
    $s$SELECT segmentation.check_criteria('{"inSegment": 99999999999999999999999999}')$s$,
    $s$SELECT segmentation.check_criteria('{"inSegment": null}')$s$,
    $s$SELECT segmentation.check_criteria('{"inSegment": true}')$s$,
    $s$SELECT segmentation.check_criteria('{"inSegment": {"id": 1}}')$s$,
    $s$SELECT segmentation.check_criteria('{"inSegment": [[1]]}')$s$,
    $s$SELECT segmentation.check_criteria('{"notInSegment": [1, null]}')$s$,
    $s$SELECT segmentation.check_criteria('{"notInSegment": [1, "2"]}')$s$,
    $s$SELECT segmentation.check_criteria('{"not": {"not": {"inSegment": [1, 2, 0]}}}')$s$,
    $s$SELECT segmentation.check_criteria('{"insegment": 1}')$s$,
    $s$SELECT segmentation.check_criteria('{"inSegments": 1}')$s$,
    $s$SELECT segmentation.create_segment('Far', '{"inSegment": 9223372036854775807}', true)$s$
]) WITH ORDINALITY AS t(statement, n) ORDER BY n;

-- References through every way of writing a definition: one statement
-- making a cycle of new segments (or a chain, which is fine), the admin API
-- making one, 10,000 copies of one id, deleting a referenced segment through
-- delete_segment(). The previews match these keys by customer id (a
-- customer_metrics row does not carry memberships).
SELECT statement, pg_temp.outcome(statement) AS outcome
FROM unnest(ARRAY[
    $s$INSERT INTO segmentation.segments (id, name, criteria, is_automatic) OVERRIDING SYSTEM VALUE
       VALUES (1001, 'Ring A', '{"inSegment": 1002}', true), (1002, 'Ring B', '{"notInSegment": 1001}', true)$s$,
    $s$INSERT INTO segmentation.segments (id, name, criteria, is_automatic) OVERRIDING SYSTEM VALUE
       VALUES (1001, 'Ring A', '{"inSegment": 1001}', true)$s$,
    $s$INSERT INTO segmentation.segments (id, name, criteria, is_automatic) OVERRIDING SYSTEM VALUE
       VALUES (1002, 'Ring B', '{"minOrders": 1}', true), (1001, 'Ring A', '{"inSegment": 1002}', true)$s$,
    format($s$SELECT segmentation.update_segment(%s, criteria => '{"notInSegment": %s}')$s$, :ref_base, :ref_user),
    format($s$SELECT segmentation.update_segment(%s, criteria => '{"inSegment": %s}')$s$, :ref_user, :ref_user),
    format($s$SELECT (segmentation.update_segment(%s, criteria => '{"inSegment": 4242}')).id$s$, :ref_user),
    format($s$SELECT segmentation.create_segment('Many refs', jsonb_build_object('inSegment', array_fill(%s::bigint, ARRAY[10000])), true) > 0$s$,
           :ref_hand),
    format($s$SELECT segmentation.delete_segment(%s)$s$, :ref_base),
    format($s$SELECT segmentation.delete_segment(%s)$s$, :ref_hand),
    format($s$SELECT segmentation.segment_match(1, '{"inSegment": %s}')$s$, :ref_hand),
    $s$SELECT segmentation.segment_match(1, '{"inSegment": 4242}')$s$,
    $s$SELECT segmentation.explain_match(1, '{"notInSegment": 4242}'::jsonb)$s$,
    format($s$SELECT matching FROM segmentation.preview('{"inSegment": %s}')$s$, :ref_base),
    format($s$SELECT entering FROM segmentation.preview_change(%s, '{"notInSegment": %s}')$s$, :ref_user, :ref_hand)
]) WITH ORDINALITY AS t(statement, n) ORDER BY n;
SELECT id, name, criteria FROM segmentation.segments WHERE name LIKE 'Ring%' OR name = 'Far' ORDER BY name;
DELETE FROM segmentation.segments WHERE name IN ('Many refs', 'Ring A', 'Ring B');

-- Overrides: customers and segments that cannot be overridden, ids of the
-- wrong kind, a reason of any size, and switching back and forth.
SELECT statement, pg_temp.outcome(statement) AS outcome
FROM unnest(ARRAY[
    format($s$SELECT segmentation.include_customer(1, %s, 'hand')$s$, :ref_hand),
    $s$SELECT segmentation.include_customer(1, 0)$s$,
    $s$SELECT segmentation.include_customer(1, -1)$s$,
    $s$SELECT segmentation.include_customer(1, 9223372036854775807)$s$,
    format($s$SELECT segmentation.include_customer(999, %s)$s$, :ref_base),
    format($s$SELECT segmentation.include_customer('abc', %s)$s$, :ref_base),
    format($s$SELECT segmentation.include_customer('1e3', %s)$s$, :ref_base),
    format($s$SELECT segmentation.include_customer('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, %s)$s$, :ref_base),
    format($s$SELECT segmentation.exclude_customer(NULL::text, %s)$s$, :ref_base),
    format($s$SELECT segmentation.exclude_customer(NULL::uuid, %s)$s$, :ref_base),
    $s$SELECT segmentation.exclude_customer(1, NULL)$s$,
    $s$SELECT segmentation.remove_override(1, NULL)$s$,
    format($s$SELECT segmentation.remove_override(NULL::bigint, %s)$s$, :ref_base),
    format($s$SELECT segmentation.remove_override(1, %s)$s$, :ref_base),
    format($s$SELECT segmentation.exclude_customer(1, %s, NULL)$s$, :ref_base),
    format($s$SELECT segmentation.exclude_customer(1, %s, repeat('why ', 100000))$s$, :ref_base),
    format($s$SELECT segmentation.exclude_customer('1', %s, 'again')$s$, :ref_base),
    format($s$SELECT segmentation.include_customer(1::smallint, %s, E'back \u00e9 \U0001F600')$s$, :ref_base),
    format($s$SELECT segmentation.include_customer(1, %s, 'same')$s$, :ref_base),
    format($s$SELECT segmentation.exclude_customer(1, %s)$s$, :ref_user),
    format($s$SELECT segmentation.remove_override(1, %s, repeat('x', 10000))$s$, :ref_base),
    format($s$SELECT segmentation.remove_override(1, %s)$s$, :ref_base)
]) WITH ORDINALITY AS t(statement, n) ORDER BY n;
SELECT o.customer_id, s.name, o.included, length(o.reason) AS reason_length
FROM segmentation.overrides o JOIN segmentation.segments s ON s.id = o.segment_id ORDER BY 1, 2;
SELECT action, length(reason) AS reason_length, count(*) FROM segmentation.assignment_log
WHERE cause = 'override' GROUP BY 1, 2 ORDER BY 1, 2;
-- An override of a segment goes with it; nothing else is left behind.
DELETE FROM segmentation.segments WHERE id IN (:ref_user, :ref_base, :ref_hand);
SELECT count(*) AS overrides FROM segmentation.overrides;
DELETE FROM segmentation.assignment_log WHERE segment_id IN (:ref_user, :ref_base, :ref_hand, 1001, 1002);
SELECT pg_temp.state() AS after, (SELECT count(*) FROM segmentation.verify()) AS drift;

------------------------------------------------------------------------------
-- 9. Partitioned orders are refused
------------------------------------------------------------------------------

SELECT segmentation.untrack_orders();
CREATE TABLE h_parted (customer_id bigint, amount numeric, ordered_at timestamptz NOT NULL) PARTITION BY RANGE (ordered_at);
CREATE TABLE h_parted_new PARTITION OF h_parted FOR VALUES FROM ('2025-01-01') TO ('2100-01-01');
-- Rows written to a partition directly (or a partition detached, attached or
-- dropped) would bypass the parent's triggers: partitioned tables are
-- refused, and nothing is tracked.
SELECT segmentation.track_orders('h_parted', 'customer_id', 'amount', 'ordered_at');
SELECT count(*) AS tracked_tables FROM segmentation.tracked_tables WHERE kind = 'orders';
DROP TABLE h_parted;

------------------------------------------------------------------------------
-- 10. A text shop: odd ids, and a tracked table that vanishes with its session
------------------------------------------------------------------------------

SELECT segmentation.untrack_customers();
DELETE FROM segmentation.segments;
DELETE FROM segmentation.assignment_log;
ALTER TABLE segmentation.segments ALTER COLUMN id RESTART WITH 1;
CREATE TABLE h_text_customers (id text PRIMARY KEY, created_at timestamptz NOT NULL);
INSERT INTO h_text_customers VALUES ('alice', now()), ('', now()), (' ', now()), (E'\u00e9mile', now()), ('😀', now()),
                                    (E'tab\there', now()), (repeat('é', 2000), now());
SELECT segmentation.track_customers('h_text_customers', 'id', 'created_at');
SELECT segmentation.create_segment('Hand picked', '{}', false) AS hand_picked \gset
SELECT statement, pg_temp.outcome(statement) AS outcome
FROM unnest(ARRAY[
    format($s$SELECT segmentation.assign_manual_segment('', %s)$s$, :hand_picked),
    format($s$SELECT segmentation.assign_manual_segment(' ', %s)$s$, :hand_picked),
    format($s$SELECT segmentation.assign_manual_segment('😀', %s)$s$, :hand_picked),
    format($s$SELECT segmentation.assign_manual_segment(E'\u00e9mile', %s)$s$, :hand_picked),
    format($s$SELECT segmentation.assign_manual_segment(E'tab\there', %s)$s$, :hand_picked),
    format($s$SELECT segmentation.assign_manual_segment(repeat('é', 2000), %s)$s$, :hand_picked),
    format($s$SELECT segmentation.assign_manual_segment('  ', %s)$s$, :hand_picked),
    format($s$SELECT segmentation.assign_manual_segment(E'e\u0301mile', %s)$s$, :hand_picked),
    format($s$SELECT segmentation.assign_manual_segment(E'\u200b', %s)$s$, :hand_picked),
    format($s$SELECT segmentation.assign_manual_segment(E'new\nline', %s)$s$, :hand_picked),
    $s$SELECT segmentation.segment_match(42, '{}')$s$,
    $s$SELECT segmentation.segment_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{}')$s$
]) WITH ORDINALITY AS t(statement, n) ORDER BY n;
SELECT length(customer_id) AS id_length, name FROM segmentation.assignments a
JOIN segmentation.segments s ON s.id = a.segment_id ORDER BY 1, customer_id;
-- An unknown id of 1999 two-byte characters: the message stays whole.
SELECT right(pg_temp.outcome($s$SELECT * FROM segmentation.customer_segments(repeat('é', 1999))$s$), 30)
       AS end_of_the_message;
SELECT pg_temp.state() AS after, (SELECT count(*) FROM segmentation.verify()) AS drift;
SELECT segmentation.untrack_customers();
DELETE FROM segmentation.segments;
DELETE FROM segmentation.assignment_log;

-- A temporary table goes with its session, without any DROP the extension
-- could refuse. Afterwards untracking must still work (or tracking a
-- temporary table must have been refused).
CREATE TEMPORARY TABLE h_temp_orders (customer_id text, amount numeric, ordered_at timestamptz);
INSERT INTO h_temp_orders VALUES ('alice', 10, now());
DO $$ BEGIN PERFORM segmentation.track_orders('h_temp_orders', 'customer_id', 'amount', 'ordered_at');
          EXCEPTION WHEN OTHERS THEN NULL; END $$;
\c -
-- A new session: its settings and pg_temp helpers are made again.
\set SHOW_CONTEXT never
SET client_min_messages = warning;
CREATE FUNCTION pg_temp.sqlstate_of(statement text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE statement;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE;
END $$;
SELECT pg_temp.sqlstate_of('SELECT segmentation.untrack_orders()') AS untrack_orders;
SELECT count(*) AS tracked_tables FROM segmentation.tracked_tables;
SELECT count(*) AS customers FROM segmentation.customer_metrics;

------------------------------------------------------------------------------
-- Leave the database as it was found.
------------------------------------------------------------------------------

DO $$ BEGIN PERFORM segmentation.untrack_orders(); PERFORM segmentation.untrack_customers();
          EXCEPTION WHEN OTHERS THEN NULL; END $$;
DROP TABLE h_customers, h_orders, h_kinds, h_text_customers CASCADE;
DROP TYPE h_composite;
DROP SEQUENCE h_sequence;
DELETE FROM segmentation.segments;
DELETE FROM segmentation.assignment_log;
-- Nothing else may be left (these find nothing when all went well).
DELETE FROM segmentation.tracked_tables;
DELETE FROM segmentation.assignments;
DELETE FROM segmentation.customer_metrics;
SELECT c.relname, format_type(a.atttypid, a.atttypmod) AS key_type
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind = 'r' AND a.attname = 'customer_id' ORDER BY 1;
