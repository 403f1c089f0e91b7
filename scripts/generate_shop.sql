-- A deterministic generated shop: psql -v customers=100000 -f generate_shop.sql
-- Creates schema shop with customers (bigint ids, a loyalty tier) and about
-- ten orders per customer, some customers active, some lapsed, some new.
\set ON_ERROR_STOP on
\if :{?customers}
\else
\set customers 100000
\endif
\set QUIET on
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;  -- one random() stream: same shop every time
SELECT setseed(0.4242) \gset

DROP SCHEMA IF EXISTS shop CASCADE;
CREATE SCHEMA shop;

CREATE TABLE shop.customers (
    id            bigint PRIMARY KEY,
    created_at    timestamptz NOT NULL,
    loyalty_level text
);

CREATE TABLE shop.orders (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id bigint NOT NULL,
    amount      numeric(12,2) NOT NULL,
    ordered_at  timestamptz NOT NULL
);

INSERT INTO shop.customers (id, created_at, loyalty_level)
SELECT g,
       now() - make_interval(secs => random() * 3 * 365 * 86400),
       CASE WHEN r < 0.45 THEN 'BRONZE' WHEN r < 0.75 THEN 'SILVER'
            WHEN r < 0.92 THEN 'GOLD' WHEN r < 0.97 THEN 'PLATINUM' END
FROM (SELECT g, random() AS r FROM generate_series(1, :customers) g) s;

-- Each customer buys 0..20 times (ten on average) between joining and a
-- last active day; a third stopped buying long ago.
INSERT INTO shop.orders (customer_id, amount, ordered_at)
SELECT c.id,
       round((5 + random() * 195)::numeric, 2),
       c.created_at + random() * (c.active_until - c.created_at)
FROM (SELECT id, created_at,
             created_at + (CASE WHEN random() < 0.33 THEN 0.2 + 0.3 * random() ELSE 0.95 + 0.05 * random() END)
                          * (now() - created_at) AS active_until,
             floor(random() * 21)::int AS n
      FROM shop.customers) c,
     generate_series(1, c.n);

CREATE INDEX ON shop.orders (customer_id);
ALTER TABLE shop.orders ADD FOREIGN KEY (customer_id) REFERENCES shop.customers;
ANALYZE shop.customers, shop.orders;
RESET client_min_messages;
\set QUIET off
