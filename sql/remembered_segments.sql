-- An order reads the customer's automatic segments from its metrics row
-- (customer_metrics.automatic_segments), where the order path remembers
-- them with the version of the definitions they hold for. Every other
-- change to a customer's automatic assignments has a row that remembered
-- something remember what the assignments now hold (a row that remembered
-- nothing is not rewritten for it), and a change to the definitions makes
-- every remembered version stale. verify() checks what is remembered.
\set SHOW_CONTEXT never
SET client_min_messages = warning;

-- Segment ids appear below: start them from 1 whatever ran before.
ALTER TABLE segmentation.segments ALTER COLUMN id RESTART WITH 1;

CREATE TABLE customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text);
CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint, amount numeric(10,2), ordered_at timestamptz);
CREATE INDEX ON orders (customer_id);
INSERT INTO customers VALUES (1, now() - interval '400 days', 'GOLD'), (2, now() - interval '400 days', 'SILVER');
INSERT INTO orders (customer_id, amount, ordered_at) VALUES
    (1, 100, now() - interval '200 days'), (2, 50, now() - interval '300 days');
SELECT segmentation.track_customers('customers', 'id', 'created_at', 'tier');
SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at');
SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 1000}', true) AS big \gset
SELECT segmentation.create_segment('Regulars', '{"minOrders": 2}', true) AS regulars \gset
SELECT segmentation.create_segment('Lapsed', '{"minDaysSinceLastPurchase": 90}', true) AS lapsed \gset

-- What a row remembers, against the customer's automatic assignments.
CREATE VIEW remembered AS
    SELECT m.customer_id, m.automatic_segments AS remembered,
           ARRAY(SELECT a.segment_id FROM segmentation.assignments a
                 WHERE a.customer_id = m.customer_id AND a.is_automatic ORDER BY 1) AS assigned,
           m.segments_version IS NOT NULL AS has_version
    FROM segmentation.customer_metrics m ORDER BY 1;

-- Creating segments remembers nothing (no row rewritten for it).
SELECT * FROM remembered;

-- An order remembers what the customer is in after it.
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 20, now() - interval '1 day');
SELECT * FROM remembered;
SELECT segments_version AS version_before FROM segmentation.customer_metrics WHERE customer_id = 1 \gset

-- The next order reads what the row remembers instead of the assignments:
-- a row that (wrongly) remembers customer 1 in Big makes its order, which
-- brings it into Big, change nothing. verify() reports both the missing
-- membership and the wrong memory; refresh_all() mends the first, and the
-- row then remembers what the assignments hold.
UPDATE segmentation.customer_metrics SET automatic_segments = ARRAY[:big, :regulars]::bigint[] WHERE customer_id = 1;
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 2000, now() - interval '1 day');
SELECT problem, expected, actual FROM segmentation.verify() ORDER BY 1;
SELECT count(*) AS added FROM segmentation.assignment_log WHERE customer_id = 1 AND segment_id = :big;
SELECT customers, added, removed FROM segmentation.refresh_all();
SELECT * FROM remembered;
SELECT count(*) AS drift FROM segmentation.verify();

-- Orders after that remember again; an order that moves the customer
-- remembers where it moved.
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 5, now() - interval '1 day');
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (2, 2000, now() - interval '1 day');
SELECT * FROM remembered;

-- Any other change to a customer's automatic assignments (here an
-- override, and its removal) has the row remember what they now hold. An
-- order deleted goes through the order path, which remembers too.
SELECT segmentation.exclude_customer(2, :big, 'test') IS NOT NULL AS excluded;
SELECT * FROM remembered WHERE customer_id = 2;
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (2, 5, now() - interval '1 day');
SELECT * FROM remembered WHERE customer_id = 2;
SELECT segmentation.remove_override(2, :big) IS NOT NULL AS override_removed;
SELECT * FROM remembered WHERE customer_id = 2;
DELETE FROM orders WHERE customer_id = 1 AND amount = 2000;
SELECT * FROM remembered WHERE customer_id = 1;

-- A definition change rewrites no remembered row, but makes every
-- remembered version stale: the next order reads the assignments and
-- remembers under the new version.
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 5, now() - interval '1 day');
SELECT segments_version AS version_before FROM segmentation.customer_metrics WHERE customer_id = 1 \gset
UPDATE segmentation.segments SET criteria = '{"minOrders": 5}' WHERE id = :regulars;
SELECT segments_version = :version_before AS row_unchanged FROM segmentation.customer_metrics WHERE customer_id = 1;
SELECT count(*) AS drift FROM segmentation.verify();
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 5, now() - interval '1 day');
SELECT segments_version <> :version_before AS new_version FROM segmentation.customer_metrics WHERE customer_id = 1;
SELECT * FROM remembered;

-- A stale version is never read: a wrong memory under the old version
-- changes nothing.
UPDATE segmentation.customer_metrics SET automatic_segments = '{}', segments_version = :version_before WHERE customer_id = 1;
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 5, now() - interval '1 day');
SELECT * FROM remembered WHERE customer_id = 1;
SELECT count(*) AS drift FROM segmentation.verify();

-- While an online change is pending, orders read the assignments, whose
-- members the change's steps move meanwhile: a wrong memory under the
-- version in force then changes nothing either.
SELECT segmentation.start_segment_change('redefining', :regulars, NULL, '{"minOrders": 7}', NULL) = :regulars AS started;
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 5, now() - interval '1 day');
UPDATE segmentation.customer_metrics SET automatic_segments = '{}' WHERE customer_id = 1;
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 5, now() - interval '1 day');
SELECT * FROM remembered WHERE customer_id = 1;
CALL segmentation.finish_segment_change(:regulars);
SELECT problem FROM segmentation.verify();
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 5, now() - interval '1 day');
SELECT * FROM remembered;
SELECT count(*) AS drift FROM segmentation.verify();

-- The recalculate button (assign_automatic_segments) reads the row's
-- memory too, under the same conditions as an order, instead of the
-- assignments. A wrong memory under the version in force is trusted:
-- customer 1's row still remembers Regulars after its assignment is gone
-- (removed here behind the extension's back), so the button, which
-- evaluates the customer into Regulars, sees nothing to change; verify()
-- reports the missing membership and the wrong memory.
DELETE FROM segmentation.assignments WHERE customer_id = 1 AND segment_id = :regulars;
SELECT * FROM segmentation.assign_automatic_segments(1);
SELECT * FROM remembered WHERE customer_id = 1;
SELECT problem, expected, actual FROM segmentation.verify() ORDER BY 1;

-- A memory the evaluation contradicts makes the button lock the customer
-- and evaluate it again from its assignments: it writes the change, and
-- the row remembers what the assignments now hold.
UPDATE segmentation.customer_metrics SET automatic_segments = '{}' WHERE customer_id = 1;
SELECT * FROM segmentation.assign_automatic_segments(1);
SELECT * FROM remembered WHERE customer_id = 1;
SELECT count(*) AS drift FROM segmentation.verify();

-- When the assignments were right, nothing changes, and the wrong memory
-- is forgotten.
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 5, now() - interval '1 day');
UPDATE segmentation.customer_metrics SET automatic_segments = '{}' WHERE customer_id = 1;
SELECT problem FROM segmentation.verify();
SELECT * FROM segmentation.assign_automatic_segments(1);
SELECT * FROM remembered WHERE customer_id = 1;
SELECT count(*) AS drift FROM segmentation.verify();

-- A memory under a stale version is not read: the button reads the
-- assignments, changes nothing and leaves the row as it is.
UPDATE segmentation.customer_metrics SET automatic_segments = '{}', segments_version = :version_before WHERE customer_id = 1;
SELECT * FROM segmentation.assign_automatic_segments(1);
SELECT remembered, assigned, segments_version = :version_before AS stale
FROM remembered JOIN segmentation.customer_metrics USING (customer_id) WHERE customer_id = 1;
SELECT count(*) AS drift FROM segmentation.verify();

-- A refresh that moves a customer whose row remembers has it remember the
-- new membership under the version in force; a row that remembers nothing
-- stays as it is. By hand: customer 1's row remembers nothing in segments
-- (under the version in force), customer 2's nothing at all, and both lose
-- their automatic assignments, which the refresh gives back.
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 5, now() - interval '1 day');
UPDATE segmentation.customer_metrics SET automatic_segments = '{}' WHERE customer_id = 1;
UPDATE segmentation.customer_metrics SET automatic_segments = NULL, segments_version = NULL WHERE customer_id = 2;
DELETE FROM segmentation.assignments WHERE is_automatic;
SELECT customers, added, removed FROM segmentation.refresh_all();
SELECT * FROM remembered;
SELECT count(*) AS drift FROM segmentation.verify();

-- Where orders cannot use a memory (criteria on a manual segment, which
-- only the assignments hold), such a change forgets it instead.
SELECT segmentation.create_segment('Picked', '{}', false) AS picked \gset
SELECT segmentation.create_segment('Picked and lapsed', format('{"inSegment": %s, "minDaysSinceLastPurchase": 90}', :picked)::jsonb, true) IS NOT NULL AS created;
INSERT INTO orders (customer_id, amount, ordered_at) VALUES (1, 5, now() - interval '1 day');
SELECT customer_id, remembered IS NOT NULL AS remembers_before FROM remembered WHERE customer_id = 1;
DELETE FROM segmentation.assignments WHERE customer_id = 1 AND is_automatic;
SELECT customers, added > 0 AS added_back FROM segmentation.refresh_all();
SELECT customer_id, remembered, has_version FROM remembered WHERE customer_id = 1;
SELECT count(*) AS drift FROM segmentation.verify();

SELECT segmentation.untrack_orders(), segmentation.untrack_customers();
DROP VIEW remembered;
DROP TABLE customers, orders;
DELETE FROM segmentation.segments;
DELETE FROM segmentation.assignment_log;
