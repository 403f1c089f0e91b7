\set n random(5, 15)
UPDATE segmentation.segments SET criteria = jsonb_build_object('minOrders', :n) WHERE name = 'Edited';
