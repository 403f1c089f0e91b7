#!/usr/bin/perl
# In-place upgrade: a shop on 1.0 (the script as shipped, src/sql/released/)
# runs ALTER EXTENSION segmentation UPDATE and keeps every row and
# membership, verify() stays clean, the shop stays live, and the upgraded
# extension is the same as a fresh install of the new version
# (test/sqlcheck/catalog_fingerprint.sql). Then a dump of the upgraded
# database restores.
use strict;
use warnings;
use DBI;
use File::Temp qw(tempdir);
use FindBin;
use Test::More;

my ($upgraded, $bare, $fresh, $restored) = map { "segmentation_upgrade_$_" } qw(upgraded bare fresh restored);
my $admin = DBI->connect('dbi:Pg:dbname=postgres', undef, undef, { RaiseError => 1, AutoCommit => 1, PrintWarn => 0 });
$admin->do("DROP DATABASE IF EXISTS $_") for ($upgraded, $bare, $fresh, $restored);
$admin->do("CREATE DATABASE $_") for ($upgraded, $bare, $fresh);

sub connect_to {
    my ($name) = @_;
    my $db = DBI->connect("dbi:Pg:dbname=$name", undef, undef, { RaiseError => 1, AutoCommit => 1, PrintWarn => 0 });
    $db->do('SET client_min_messages = warning');
    return $db;
}

my ($newest) = `sed -n "s/^default_version = '\\(.*\\)'\$/\\1/p" $FindBin::Bin/../../segmentation.control`;
chomp $newest;
ok($newest ne '1.0', "the newest version is $newest");

my $db = connect_to($upgraded);
$db->do($_) for (
    q{CREATE EXTENSION segmentation VERSION '1.0'},
    'CREATE TABLE customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text)',
    'CREATE TABLE orders (id bigint GENERATED ALWAYS AS IDENTITY, customer_id bigint REFERENCES customers ON DELETE CASCADE, amount numeric(10,2), ordered_at timestamptz)',
    q{INSERT INTO customers SELECT g, now() - g * interval '1 day', CASE WHEN g % 3 = 0 THEN 'GOLD' END FROM generate_series(1, 300) g},
    q{INSERT INTO orders (customer_id, amount, ordered_at) SELECT g % 300 + 1, g % 97, now() - g * interval '1 hour' FROM generate_series(1, 3000) g},
    q{SELECT segmentation.track_customers('customers', 'id', 'created_at', 'tier')},
    q{SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at')},
    q{SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 600}', true)},
    q{SELECT segmentation.create_segment('Gold', '{"loyaltyLevels": ["GOLD"]}', true)},
    q{SELECT segmentation.create_segment('Recent', '{"maxDaysSinceLastPurchase": 30}', true)},
    q{SELECT segmentation.create_segment('Loyal big', '{"all": [{"minOrders": 10}, {"loyaltyLevels": ["GOLD"]}]}', true)},
    q{SELECT segmentation.create_segment('VIP', '{}', false, 'hand picked')},
    q{SELECT segmentation.assign_manual_segment(g, (SELECT id FROM segmentation.segments WHERE name = 'VIP')) FROM generate_series(1, 12) g},
    q{SELECT segmentation.remove_manual_segment(3, (SELECT id FROM segmentation.segments WHERE name = 'VIP'), 'changed mind')},
);
is($db->selectrow_array(q{SELECT extversion FROM pg_extension WHERE extname = 'segmentation'}), '1.0', 'installed at 1.0');

# Everything the extension stores, as one digest (the columns of 1.0: newer
# versions may add some).
my $rows_sql = q{
    SELECT md5(string_agg(t, E'\n' ORDER BY t)) FROM (
        SELECT 'segment ' || row(s.id, s.name, s.description, s.criteria, s.is_automatic, s.created_at,
                                 s.updated_at)::text FROM segmentation.segments s
        UNION ALL SELECT 'assignment ' || a::text FROM segmentation.assignments a
        UNION ALL SELECT 'log ' || l::text FROM segmentation.assignment_log l
        UNION ALL SELECT 'metrics ' || row(m.customer_id, m.lifetime_value, m.order_count, m.first_order_at,
                                           m.last_order_at, m.customer_since, m.loyalty_level)::text
                  FROM segmentation.customer_metrics m
        UNION ALL SELECT 'tracked ' || row(t.kind, t.relation, t.customer_column, t.time_column, t.amount_column,
                                           t.loyalty_column, t.live)::text
                  FROM segmentation.tracked_tables t
    ) x(t)};
my ($before) = $db->selectrow_array($rows_sql);
my ($members) = $db->selectrow_array('SELECT count(*) FROM segmentation.assignments');
ok($members > 50, "the 1.0 shop has $members assignments");

$db->do('ALTER EXTENSION segmentation UPDATE');
is($db->selectrow_array(q{SELECT extversion FROM pg_extension WHERE extname = 'segmentation'}), $newest,
   "ALTER EXTENSION UPDATE brings it to $newest");
is($db->selectrow_array($rows_sql), $before, 'every segment, assignment, log row, metric and tracking row is unchanged');
is_deeply($db->selectall_arrayref('SELECT * FROM segmentation.verify()'), [], 'verify() finds no drift after the upgrade');

# Still live after the upgrade: an order moves a customer in its transaction.
$db->do('INSERT INTO orders (customer_id, amount, ordered_at) VALUES (7, 9999, now())');
is($db->selectrow_array(q{SELECT count(*) FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
                          WHERE a.customer_id = 7 AND s.name = 'Big'}), 1, 'an order still changes membership live');
$db->do('DELETE FROM customers WHERE id = 8');
is($db->selectrow_array(q{SELECT count(*) FROM segmentation.assignments WHERE customer_id = 8}), 0,
   'a cascaded delete still removes memberships');
is_deeply($db->selectall_arrayref('SELECT * FROM segmentation.verify()'), [], 'verify() finds no drift after live writes');
$db->disconnect;

# The same extension as a fresh install, object by object (both untracked:
# tracking retypes key columns).
my $fingerprint = "$FindBin::Bin/../sqlcheck/catalog_fingerprint.sql";
my $b = connect_to($bare);
$b->do(q{CREATE EXTENSION segmentation VERSION '1.0'});
$b->do('ALTER EXTENSION segmentation UPDATE');
$b->disconnect;
my $f = connect_to($fresh);
$f->do('CREATE EXTENSION segmentation');
$f->disconnect;
my ($up_print, $fresh_print) =
  map { scalar `psql -X -A -t -v ON_ERROR_STOP=1 -d $_ -f $fingerprint` } ($bare, $fresh);
ok(length($fresh_print) > 1000, 'the fingerprint of a fresh install is not empty');
if ($up_print eq $fresh_print) {
    pass('the upgraded extension equals a fresh install (catalog fingerprint)');
} else {
    my $dir = tempdir(CLEANUP => 1);
    open(my $out, '>', "$dir/upgraded") or die; print $out $up_print; close $out;
    open($out, '>', "$dir/fresh") or die; print $out $fresh_print; close $out;
    fail('the upgraded extension equals a fresh install (catalog fingerprint)');
    diag(scalar `diff -u $dir/fresh $dir/upgraded`);
}

# A dump of the upgraded database restores at the new version.
my $dir = tempdir(CLEANUP => 1);
system('pg_dump', '-Fc', '-f', "$dir/shop.dump", $upgraded) == 0 or BAIL_OUT('pg_dump failed');
$admin->do("CREATE DATABASE $restored");
is(system('pg_restore', '--exit-on-error', '-d', $restored, "$dir/shop.dump"), 0, 'the upgraded database restores');
my $r = connect_to($restored);
my $u = connect_to($upgraded);
is($r->selectrow_array($rows_sql), $u->selectrow_array($rows_sql), 'the restored database holds the same rows');
is_deeply($r->selectall_arrayref('SELECT * FROM segmentation.verify()'), [], 'verify() finds no drift after restore');
$_->disconnect for ($r, $u);

$admin->do("DROP DATABASE $_") for ($upgraded, $bare, $fresh, $restored);
done_testing();
