\set c random(1, :customers)
UPDATE shop.orders SET amount = amount + 1 WHERE id = (SELECT max(id) FROM shop.orders WHERE customer_id = :c);
