\set c random(1, :customers)
UPDATE shop.customers SET loyalty_level = (ARRAY['BRONZE', 'SILVER', 'GOLD', 'PLATINUM'])[1 + (random() * 3)::int] WHERE id = :c;
