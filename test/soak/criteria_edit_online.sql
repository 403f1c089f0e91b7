\set n random(2, 15)
SELECT id AS edited FROM segmentation.segments WHERE name = 'Online ' || :client_id \gset
CALL segmentation.update_segment_concurrently(:edited, jsonb_build_object('minOrders', :n));
