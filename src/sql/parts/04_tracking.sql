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

CREATE FUNCTION segmentation.orders_changed()
RETURNS trigger
AS 'MODULE_PATHNAME', 'segmentation_orders_changed'
LANGUAGE C SECURITY DEFINER SET search_path = pg_catalog, pg_temp;
