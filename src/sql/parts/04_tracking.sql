------------------------------------------------------------------------------
-- Tracking the user's tables
------------------------------------------------------------------------------

CREATE FUNCTION segmentation.track_customers(customers regclass, id_column name, created_at_column name,
                                             loyalty_column name DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_track_customers'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.track_customer_attributes(columns name[])
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_track_customer_attributes'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.track_orders(orders regclass, customer_column name, amount_column name,
                                          ordered_at_column name)
RETURNS bigint
AS 'MODULE_PATHNAME', 'segmentation_track_orders'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.untrack_customers()
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_untrack_customers'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.untrack_orders()
RETURNS boolean
AS 'MODULE_PATHNAME', 'segmentation_untrack_orders'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.set_live_evaluation(tracked_table regclass, live boolean)
RETURNS void
AS 'MODULE_PATHNAME', 'segmentation_set_live_evaluation'
LANGUAGE C VOLATILE SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

CREATE FUNCTION segmentation.customers_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_customers_changed'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;

-- SECURITY INVOKER without a SET clause (1.1), unlike the other functions
-- that write the extension's tables: saving and restoring search_path
-- around each order statement cost 5 to 12% of order-insert throughput, and
-- the usual order runs no SQL. The SQL an order does run (a customer's first
-- order, a deleted order, windows, overrides) runs as the function's owner
-- with search_path = pg_catalog, pg_temp, switched in C
-- (spi::OwnerConnection).
CREATE FUNCTION segmentation.orders_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_orders_changed'
LANGUAGE C;
