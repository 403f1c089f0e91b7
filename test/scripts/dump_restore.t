#!/usr/bin/perl
# The extension's data survives pg_dump and restore (custom format through
# pg_restore, and plain SQL through psql): segments, assignments, history,
# metrics and tracking come back identical, keys keep their type, ids keep
# counting, and the restored database stays live.
use strict;
use warnings;
use DBI;
use File::Temp qw(tempdir);
use Test::More;

my ($source, $custom, $plain) = map { "segmentation_dump_$_" } qw(source custom plain);
my $admin = DBI->connect('dbi:Pg:dbname=postgres', undef, undef, { RaiseError => 1, AutoCommit => 1, PrintWarn => 0 });
$admin->do("DROP DATABASE IF EXISTS $_") for ($source, $custom, $plain);
$admin->do("CREATE DATABASE $source");

my $db = DBI->connect("dbi:Pg:dbname=$source", undef, undef, { RaiseError => 1, AutoCommit => 1, PrintWarn => 0 });
$db->do($_) for (
    'SET client_min_messages = warning',
    'CREATE EXTENSION segmentation',
    'CREATE TABLE customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text)',
    'CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint, amount numeric(10,2), ordered_at timestamptz)',
    q{INSERT INTO customers SELECT g, now() - g * interval '1 day', CASE WHEN g % 3 = 0 THEN 'GOLD' END FROM generate_series(1, 200) g},
    q{INSERT INTO orders (customer_id, amount, ordered_at) SELECT g % 200 + 1, g % 97, now() - g * interval '1 hour' FROM generate_series(1, 2000) g},
    q{SELECT segmentation.track_customers('customers', 'id', 'created_at', 'tier')},
    q{SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at')},
    q{SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 600}', true)},
    q{SELECT segmentation.create_segment('Gold', '{"loyaltyLevels": ["GOLD"]}', true)},
    q{SELECT segmentation.create_segment('Recent', '{"maxDaysSinceLastPurchase": 30}', true)},
    q{SELECT segmentation.create_segment('VIP', '{}', false, 'hand picked')},
    q{SELECT segmentation.assign_manual_segment(g, (SELECT id FROM segmentation.segments WHERE name = 'VIP')) FROM generate_series(1, 10) g},
    q{SELECT segmentation.remove_manual_segment(3, (SELECT id FROM segmentation.segments WHERE name = 'VIP'), 'changed mind')},
);

# A fingerprint of everything the extension stores.
my $fingerprint_sql = q{
    SELECT md5(string_agg(t, E'\n' ORDER BY t)) FROM (
        SELECT 'segment ' || s::text FROM segmentation.segments s
        UNION ALL SELECT 'assignment ' || a::text FROM segmentation.assignments a
        UNION ALL SELECT 'log ' || l::text FROM segmentation.assignment_log l
        UNION ALL SELECT 'metrics ' || m::text FROM segmentation.customer_metrics m
        UNION ALL SELECT 'tracked ' || t::text FROM segmentation.tracked_tables t
        UNION ALL SELECT 'key ' || c.relname || ' ' || format_type(a.atttypid, a.atttypmod)
            FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
            WHERE c.relnamespace = 'segmentation'::regnamespace AND a.attname = 'customer_id'
    ) x(t)};
my ($expected) = $db->selectrow_array($fingerprint_sql);
my ($assignments) = $db->selectrow_array('SELECT count(*) FROM segmentation.assignments');
ok($assignments > 20, "the source has $assignments assignments");
$db->disconnect;

my $dir = tempdir(CLEANUP => 1);
system('pg_dump', '-Fc', '-f', "$dir/shop.dump", $source) == 0 or BAIL_OUT('pg_dump -Fc failed');
system('pg_dump', '-f', "$dir/shop.sql", $source) == 0 or BAIL_OUT('pg_dump failed');
$admin->do("CREATE DATABASE $_") for ($custom, $plain);
is(system('pg_restore', '--exit-on-error', '-d', $custom, "$dir/shop.dump"), 0, 'pg_restore succeeds');
is(system('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', $plain, '-f', "$dir/shop.sql"), 0,
   'a plain dump restores with psql');

for my $restored ($custom, $plain) {
    my $r = DBI->connect("dbi:Pg:dbname=$restored", undef, undef, { RaiseError => 1, AutoCommit => 1, PrintWarn => 0 });
    my ($got) = $r->selectrow_array($fingerprint_sql);
    is($got, $expected, "$restored: segments, assignments, history, metrics, tracking and key types are identical");
    is_deeply($r->selectall_arrayref('SELECT * FROM segmentation.verify()'), [], "$restored: verify() finds no drift");

    # Still live: a new segment gets the next id, orders still move customers.
    my ($max) = $r->selectrow_array('SELECT max(id) FROM segmentation.segments');
    my ($id) = $r->selectrow_array(q{SELECT segmentation.create_segment('Whales', '{"minLifetimeValue": 5000}', true)});
    ok($id > $max, "$restored: segment ids keep counting ($id after $max)");
    $r->do('INSERT INTO orders (customer_id, amount, ordered_at) VALUES (7, 9999, now())');
    my ($whale) = $r->selectrow_array("SELECT count(*) FROM segmentation.assignments WHERE customer_id = 7 AND segment_id = $id");
    is($whale, 1, "$restored: an order still changes membership in its transaction");
    $r->disconnect;
}

$admin->do("DROP DATABASE $_") for ($source, $custom, $plain);
# Views over the extension's bigint keys: pg_restore creates them before it
# loads tracked_tables, so over text keys; the retype builds them again.
my ($viewed, $viewed_custom, $viewed_plain) = map { "segmentation_dump_$_" } qw(viewed viewed_custom viewed_plain);
$admin->do("DROP DATABASE IF EXISTS $_") for ($viewed, $viewed_custom, $viewed_plain);
$admin->do("DROP ROLE IF EXISTS segmentation_dump_reporter");
$admin->do("CREATE ROLE segmentation_dump_reporter");
$admin->do("CREATE DATABASE $viewed");
$db = DBI->connect("dbi:Pg:dbname=$viewed", undef, undef, { RaiseError => 1, AutoCommit => 1, PrintWarn => 0 });
$db->do($_) for (
    'SET client_min_messages = warning',
    'CREATE EXTENSION segmentation',
    'CREATE TABLE customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text)',
    'CREATE TABLE orders (customer_id bigint, amount numeric(10,2), ordered_at timestamptz)',
    q{INSERT INTO customers SELECT g, '2025-01-01'::timestamptz + g * interval '1 day', CASE WHEN g % 3 = 0 THEN 'GOLD' END FROM generate_series(1, 50) g},
    q{INSERT INTO orders SELECT g % 50 + 1, g % 97, '2025-06-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 300) g},
    q{SELECT segmentation.track_customers('customers', 'id', 'created_at', 'tier')},
    q{SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at')},
    q{SELECT segmentation.create_segment('Gold', '{"loyaltyLevels": ["GOLD"]}', true)},
    'CREATE VIEW metrics_report WITH (security_barrier) AS SELECT customer_id, lifetime_value FROM segmentation.customer_metrics',
    q{COMMENT ON VIEW metrics_report IS 'for the dashboard'},
    q{COMMENT ON COLUMN metrics_report.lifetime_value IS 'sum of amounts'},
    'GRANT USAGE ON SCHEMA segmentation TO segmentation_dump_reporter',
    'GRANT SELECT ON segmentation.customer_metrics TO segmentation_dump_reporter',
    'ALTER VIEW metrics_report OWNER TO segmentation_dump_reporter',
    'CREATE VIEW big_spenders AS SELECT customer_id FROM metrics_report WHERE lifetime_value > 500',
    'CREATE MATERIALIZED VIEW gold_members AS SELECT customer_id, segment_id FROM segmentation.assignments',
);
my $views_sql = q{
    SELECT string_agg(c.relname || ' ' || c.relkind::text || ' ' || format_type(a.atttypid, a.atttypmod) || ' '
                      || pg_get_userbyid(c.relowner) || ' ' || coalesce(c.reloptions::text, '-') || ' '
                      || coalesce(obj_description(c.oid, 'pg_class'), '-') || ' '
                      || coalesce(col_description(c.oid, 2), '-'), '; ' ORDER BY c.relname)
    FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'customer_id'
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('v', 'm')};
my ($expected_views) = $db->selectrow_array($views_sql);
($expected) = $db->selectrow_array($fingerprint_sql);
my ($expected_rows) = $db->selectrow_array('SELECT (SELECT count(*) FROM big_spenders) || \' \' || (SELECT count(*) FROM gold_members)');
$db->disconnect;
system('pg_dump', '-Fc', '-f', "$dir/viewed.dump", $viewed) == 0 or BAIL_OUT('pg_dump -Fc failed');
system('pg_dump', '-f', "$dir/viewed.sql", $viewed) == 0 or BAIL_OUT('pg_dump failed');
$admin->do("CREATE DATABASE $_") for ($viewed_custom, $viewed_plain);
is(system('pg_restore', '--exit-on-error', '-d', $viewed_custom, "$dir/viewed.dump"), 0, 'pg_restore succeeds with views over bigint keys');
is(system('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-d', $viewed_plain, '-f', "$dir/viewed.sql"), 0,
   'psql restores a plain dump with views over bigint keys');
for my $restored ($viewed_custom, $viewed_plain) {
    my $r = DBI->connect("dbi:Pg:dbname=$restored", undef, undef, { RaiseError => 1, AutoCommit => 1, PrintWarn => 0 });
    my ($got) = $r->selectrow_array($fingerprint_sql);
    is($got, $expected, "$restored: tracking, metrics and key types are identical");
    is(($r->selectrow_array($views_sql))[0], $expected_views, "$restored: the views have bigint keys, their options, owner and comments");
    is(($r->selectrow_array('SELECT (SELECT count(*) FROM big_spenders) || \' \' || (SELECT count(*) FROM gold_members)'))[0],
       $expected_rows, "$restored: the views show the same rows");
    is_deeply($r->selectall_arrayref(q{SELECT * FROM segmentation.verify('2030-01-01')}), [], "$restored: verify() finds no drift");
    $r->disconnect;
}
$admin->do("DROP DATABASE $_") for ($viewed, $viewed_custom, $viewed_plain);
$admin->do("DROP ROLE segmentation_dump_reporter");

done_testing();
