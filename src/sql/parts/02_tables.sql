------------------------------------------------------------------------------
-- Tables (their data is part of every pg_dump of the database)
------------------------------------------------------------------------------

CREATE TABLE segmentation.segments (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text NOT NULL UNIQUE CHECK (name OPERATOR(pg_catalog.~) '[^[:space:]]'),
    description  text,
    criteria     jsonb NOT NULL DEFAULT '{}' CHECK (segmentation.check_criteria(criteria)),
    is_automatic boolean NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at   timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- An online change in progress (update_segment_concurrently and its
    -- siblings, README "Changing segments online"): 'creating' (being
    -- populated), 'redefining' (pending_criteria in force, being applied) or
    -- 'deleting' (its assignments being removed); NULL when none.
    pending_change   text CONSTRAINT segments_pending_change_check
                     CHECK (pending_change IN ('creating', 'redefining', 'deleting')),
    pending_criteria jsonb CONSTRAINT segments_pending_criteria_check
                     CHECK (pending_criteria IS NULL OR segmentation.check_criteria(pending_criteria)),
    CONSTRAINT segments_pending_criteria_when_redefining
        CHECK ((pending_change IS NOT DISTINCT FROM 'redefining') = (pending_criteria IS NOT NULL)),
    CONSTRAINT segments_pending_change_automatic CHECK (pending_change IS NULL OR is_automatic),
    -- Names are trimmed (create_segment and update_segment trim them), at
    -- most 200 characters, and unique regardless of case (the index below).
    CONSTRAINT segments_name_trimmed CHECK (name OPERATOR(pg_catalog.!~) '^[ \t\n\r\f\v]|[ \t\n\r\f\v]$'),
    CONSTRAINT segments_name_length CHECK (pg_catalog.char_length(name) OPERATOR(pg_catalog.<=) 200),
    -- A manual segment's members are assigned by hand: it has no criteria.
    CONSTRAINT segments_manual_without_criteria
        CHECK (is_automatic OR criteria OPERATOR(pg_catalog.=) '{}'::jsonb)
);

CREATE UNIQUE INDEX segments_name_lower_idx ON segmentation.segments (pg_catalog.lower(name));

-- Customer keys are text until a table is tracked; tracking retypes the
-- customer_id columns to the key type (bigint, text or uuid).
CREATE TABLE segmentation.customer_metrics (
    customer_id    text PRIMARY KEY,
    lifetime_value numeric NOT NULL DEFAULT 0,
    order_count    bigint NOT NULL DEFAULT 0,
    first_order_at timestamptz,
    last_order_at  timestamptz,
    customer_since timestamptz,
    loyalty_level  text,
    -- No later than the next instant at which the customer's automatic
    -- segments can change with the clock alone (NULL: never); refresh_due()
    -- looks at customers past theirs.
    reevaluate_at  timestamptz,
    -- The tracked attribute columns of the customer's row (1.1): a JSON
    -- object of column name to value, NULL columns left out; NULL when no
    -- attributes are tracked (see segmentation.track_customer_attributes).
    attributes     jsonb,
    -- The customer's automatic segments (ids ascending) as the order path
    -- last wrote them, and the version of the segment definitions they were
    -- evaluated under (1.1): an order then need not read assignments. NULL
    -- when not known; any other change to the customer's automatic
    -- assignments writes what the assignments then hold (or NULL where
    -- orders could not use it), and any change to the definitions makes the
    -- version stale. verify() checks them.
    automatic_segments bigint[],
    segments_version   bigint
) WITH (fillfactor = 90);  -- room for HOT updates: metrics change on every order

-- refresh_due() walks this index in (reevaluate_at, customer_id) order, one
-- batch after the other, each starting after the last row of the one before.
CREATE INDEX customer_metrics_reevaluate_at_idx
    ON segmentation.customer_metrics (reevaluate_at, customer_id) WHERE reevaluate_at IS NOT NULL;

CREATE TABLE segmentation.assignments (
    customer_id  text NOT NULL,
    segment_id   bigint NOT NULL,
    is_automatic boolean NOT NULL,
    assigned_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    assigned_by  text,
    -- is_automatic included: bulk refreshes read membership from the index alone.
    PRIMARY KEY (customer_id, segment_id) INCLUDE (is_automatic)
);

-- A segment's members in key order: counts (index-only) and segment_members()
-- pages (keyset) walk it.
CREATE INDEX assignments_segment_id_idx ON segmentation.assignments (segment_id, customer_id);

CREATE TABLE segmentation.assignment_log (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id  text NOT NULL,
    segment_id   bigint NOT NULL,
    -- added/removed: membership; included/excluded/override_removed: an
    -- override of an automatic segment made or removed (not membership).
    action       text NOT NULL CHECK (action IN ('added', 'removed', 'included', 'excluded', 'override_removed')),
    is_automatic boolean NOT NULL,
    cause        text NOT NULL CHECK (cause IN ('order', 'customer', 'definition', 'time', 'refresh', 'manual',
                                                'override')),
    actor        text,
    reason       text,
    logged_at    timestamptz NOT NULL DEFAULT pg_catalog.now()
);

CREATE INDEX assignment_log_segment_idx ON segmentation.assignment_log (segment_id, logged_at);
CREATE INDEX assignment_log_customer_idx ON segmentation.assignment_log (customer_id, logged_at);

-- Overrides of automatic segments (include_customer, exclude_customer): an
-- included customer is a member whatever the criteria say, an excluded one
-- never is. Written only through those functions and remove_override().
CREATE TABLE segmentation.overrides (
    customer_id text NOT NULL,
    segment_id  bigint NOT NULL,
    included    boolean NOT NULL,
    actor       text,
    reason      text,
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (customer_id, segment_id) INCLUDE (included)
);

CREATE INDEX overrides_segment_id_idx ON segmentation.overrides (segment_id);

CREATE TABLE segmentation.tracked_tables (
    kind            text PRIMARY KEY CHECK (kind IN ('customers', 'orders')),
    relation        regclass NOT NULL UNIQUE,
    customer_column name NOT NULL,
    time_column     name NOT NULL,
    amount_column   name CHECK ((kind = 'orders') = (amount_column IS NOT NULL)),
    loyalty_column  name CHECK (kind = 'customers' OR loyalty_column IS NULL),
    live            boolean NOT NULL DEFAULT true,
    -- Further columns of the customers table that criteria test as attributes (1.1).
    attribute_columns name[] CONSTRAINT tracked_tables_attribute_columns_check
                             CHECK (kind = 'customers' OR attribute_columns IS NULL)
);

-- Notifications of prepared transactions (PREPARE TRANSACTION cannot NOTIFY):
-- written by the prepared transaction itself, sent and deleted by the session
-- that runs COMMIT PREPARED. Not dumped: they belong to this cluster's moment.
CREATE TABLE segmentation.prepared_notifications (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    gid     text NOT NULL,
    payload text NOT NULL
);

-- Citus (docs/citus.md): how the coordinator has work done where the
-- customers are. On a cluster, cluster_tasks becomes a reference table: a row
-- written in it runs its task on every node, shard by shard. cluster_calls is
-- distributed with the customers: a row written in it with a customer runs its
-- call on the node holding that customer, and a row without one holds one
-- shard's results of a task. Rows live only during the function that writes
-- them (not dumped); on one server the tables stay empty.
CREATE TABLE segmentation.cluster_tasks (
    id    bigint NOT NULL,
    task  text NOT NULL,
    as_of      timestamptz NOT NULL,
    actor      text NOT NULL,
    -- The caller's settings that verify's text depends on.
    time_zone  text NOT NULL,
    date_style text NOT NULL,
    -- An online change's step (segment_change_step): the segment, and the
    -- customer after which the step starts (NULL: from the first).
    segment_id     bigint,
    after_customer text
);

CREATE TABLE segmentation.cluster_calls (
    customer_id    bigint,
    id             bigint NOT NULL,
    call           text NOT NULL,
    segment_id     bigint,
    as_of          timestamptz,
    actor          text,
    reason         text,
    ordinal        integer,
    customers      bigint,
    added          bigint,
    removed        bigint,
    added_ids      bigint[],
    removed_ids    bigint[],
    changed        boolean,
    drift_customer text,
    problem        text,
    expected       text,
    actual         text
);

-- Citus (docs/citus.md, "Notifications on Citus"): membership changes made on
-- a node's shards, waiting for the coordinator to announce them with NOTIFY.
-- Distributed with the customers; every row is written straight into the
-- local shard of the statement's shard group (customer_id stays NULL), tagged
-- with the Citus global process id of the session whose work made it (origin).
-- That session reads and deletes its rows before it commits;
-- deliver_notifications() sends the others. On one server it stays empty.
CREATE TABLE segmentation.notification_outbox (
    customer_id bigint,
    origin      bigint NOT NULL,
    written_at  timestamptz NOT NULL,
    ordinal     bigint NOT NULL,
    -- The customer's id as JSON (a number or a string); NULL in a per-segment summary.
    customer    text,
    segment_id  bigint NOT NULL,
    added       bigint NOT NULL,
    removed     bigint NOT NULL
);

-- Citus's shard rebalancer moves shards by logical replication by default,
-- which needs a replica identity: these tables have no key (rows without a
-- customer), so the whole row identifies it (they hold rows only briefly).
ALTER TABLE segmentation.cluster_calls REPLICA IDENTITY FULL;
ALTER TABLE segmentation.notification_outbox REPLICA IDENTITY FULL;
ALTER TABLE segmentation.cluster_tasks REPLICA IDENTITY FULL;

SELECT pg_catalog.pg_extension_config_dump('segmentation.segments', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.segments_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.customer_metrics', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.assignments', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.assignment_log', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.assignment_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.tracked_tables', '');
SELECT pg_catalog.pg_extension_config_dump('segmentation.overrides', '');
