-- Customer keys: bigint, integer, uuid and text shops. The extension's
-- customer_id columns take the tracked key's type, and every function takes
-- an id as a text literal, a bigint or a uuid.
\set SHOW_CONTEXT never
SET client_min_messages = warning;

CREATE FUNCTION pg_temp.key_columns() RETURNS TABLE (tbl name, type text) LANGUAGE sql AS $$
    SELECT c.relname, format_type(a.atttypid, a.atttypmod)
    FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
    WHERE c.relnamespace = 'segmentation'::regnamespace AND c.relkind = 'r' AND a.attname = 'customer_id'
    ORDER BY 1 $$;

SELECT * FROM pg_temp.key_columns();  -- text until something is tracked

-- A bigint shop.
CREATE TABLE big_customers (id bigint PRIMARY KEY, joined date NOT NULL, tier text);
CREATE TABLE big_orders (id serial, customer_id bigint, amount integer, at timestamp);
INSERT INTO big_customers VALUES (42, '2024-01-01', 'GOLD'), (9000000000, '2024-02-01', 'SILVER');
INSERT INTO big_orders (customer_id, amount, at) VALUES (42, 600, '2025-01-01'), (42, 500, '2025-02-01'), (9000000000, 5, '2025-03-01');
SELECT segmentation.track_customers('big_customers', 'id', 'joined', 'tier');
SELECT segmentation.track_orders('big_orders', 'customer_id', 'amount', 'at');
SELECT * FROM pg_temp.key_columns();
SELECT segmentation.create_segment('Big spenders', '{"minLifetimeValue": 1000}', true) AS big_spenders \gset
SELECT segmentation.create_segment('Hand picked', '{}', false) AS hand_picked \gset

-- The same customer, named three ways.
SELECT segmentation.calculate_automatic_segments(42) = ARRAY[:big_spenders]::bigint[] AS by_bigint,
       segmentation.calculate_automatic_segments('42') = ARRAY[:big_spenders]::bigint[] AS by_text,
       segmentation.calculate_automatic_segments(42::integer) = ARRAY[:big_spenders]::bigint[] AS by_integer,
       segmentation.segment_match(9000000000, '{"maxOrders": 1}') AS beyond_int4;
SELECT segmentation.assign_manual_segment('42', :hand_picked), segmentation.assign_manual_segment(42, :hand_picked);
SELECT name FROM segmentation.customer_segments(42::smallint) ORDER BY name;
-- Joins with the shop's own key need no cast.
SELECT c.id, m.lifetime_value FROM big_customers c JOIN segmentation.customer_metrics m ON m.customer_id = c.id ORDER BY c.id;

-- Ids that cannot name a bigint customer.
SELECT segmentation.calculate_automatic_segments('forty-two');
SELECT segmentation.calculate_automatic_segments('99999999999999999999');
SELECT segmentation.calculate_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid);
SELECT segmentation.calculate_automatic_segments(NULL::bigint);
SELECT segmentation.calculate_automatic_segments(7);

SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DELETE FROM segmentation.segments;
DROP TABLE big_customers, big_orders;

-- An integer shop that tracks orders only: customers are those with orders,
-- known since their first order.
CREATE TABLE int_orders (customer_id integer, amount numeric, placed date);
INSERT INTO int_orders VALUES (7, 10, '2025-01-01'), (7, 15, '2025-01-05'), (8, 99, '2025-02-01');
SELECT segmentation.track_orders('int_orders', 'customer_id', 'amount', 'placed');
SELECT * FROM pg_temp.key_columns();
SELECT customer_id, lifetime_value, order_count, (customer_since AT TIME ZONE 'UTC')::date AS customer_since, loyalty_level FROM segmentation.customer_metrics ORDER BY 1;
INSERT INTO int_orders VALUES (9, 1, '2025-03-01');
DELETE FROM int_orders WHERE customer_id = 8;
SELECT customer_id, lifetime_value, order_count, (customer_since AT TIME ZONE 'UTC')::date AS customer_since FROM segmentation.customer_metrics ORDER BY 1;
SELECT count(*) AS drift FROM segmentation.verify();
SELECT segmentation.untrack_orders();
SELECT count(*) AS customers FROM segmentation.customer_metrics;
DROP TABLE int_orders;

-- A uuid shop: bigint history cannot become uuid ids; once archived, it can.
CREATE TABLE uuid_customers (id uuid PRIMARY KEY, created timestamptz NOT NULL);
CREATE TABLE uuid_orders (customer uuid, amount numeric(8,2), at timestamptz);
INSERT INTO uuid_customers VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-01-01'), ('b1ffcd88-8d1a-4ef8-bb6d-6bb9bd380a22', '2024-01-01');
INSERT INTO uuid_orders VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1500, '2025-01-01');
SELECT segmentation.track_customers('uuid_customers', 'id', 'created');
SELECT count(*) AS archived FROM segmentation.assignment_log;
DELETE FROM segmentation.assignment_log;
SELECT segmentation.track_customers('uuid_customers', 'id', 'created');
SELECT segmentation.track_orders('uuid_orders', 'customer', 'amount', 'at');
SELECT * FROM pg_temp.key_columns();
SELECT segmentation.create_segment('Big spenders', '{"minLifetimeValue": 1000}', true) AS big_spenders \gset
SELECT segmentation.calculate_automatic_segments('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid) = ARRAY[:big_spenders]::bigint[] AS by_uuid,
       segmentation.calculate_automatic_segments('A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11') = ARRAY[:big_spenders]::bigint[] AS by_text,
       segmentation.calculate_automatic_segments('b1ffcd88-8d1a-4ef8-bb6d-6bb9bd380a22') AS other;
SELECT segmentation.calculate_automatic_segments('not-a-uuid');
SELECT segmentation.calculate_automatic_segments(42);
SELECT segmentation.calculate_automatic_segments('c2aade77-7e29-4ef8-bb6d-6bb9bd380a33');
SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DELETE FROM segmentation.segments;
DROP TABLE uuid_customers, uuid_orders;

-- A text shop accepts any id spelling, numbers included.
CREATE TABLE text_customers (id varchar(20) PRIMARY KEY, created timestamptz NOT NULL);
INSERT INTO text_customers VALUES ('user123', '2024-01-01'), ('42', '2024-01-01');
SELECT segmentation.track_customers('text_customers', 'id', 'created');
SELECT * FROM pg_temp.key_columns();
SELECT segmentation.segment_match('user123', '{}') AS by_text, segmentation.segment_match(42, '{}') AS by_number,
       segmentation.segment_match('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid, '{}') AS unknown_uuid;
SELECT segmentation.untrack_customers();
DROP TABLE text_customers;

-- Leave no history behind for the next test.
DELETE FROM segmentation.assignment_log;
