\set c random(1, :customers)
INSERT INTO shop.orders (customer_id, amount, ordered_at) VALUES (:c, random() * 300, now());
