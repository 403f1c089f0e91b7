\set c random(1, :customers)
DELETE FROM shop.orders WHERE id = (SELECT min(id) FROM shop.orders WHERE customer_id = :c);
