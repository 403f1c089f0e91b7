\set c random(1, :customers)
\set add random(0, 1)
SELECT CASE WHEN :add = 1
            THEN segmentation.assign_manual_segment(:c, (SELECT id FROM segmentation.segments WHERE name = 'VIP'))
            ELSE segmentation.remove_manual_segment(:c, (SELECT id FROM segmentation.segments WHERE name = 'VIP'), 'soak')
       END;
