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
done_testing();
