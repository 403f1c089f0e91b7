#!/usr/bin/perl
# Citus (docs/citus.md, "Notifications on Citus"): a LISTEN client connected
# to the coordinator learns about membership changes made on the workers,
# with the payloads of one server: order writes through the coordinator,
# functions the coordinator fans out, and (through deliver_notifications())
# writes made straight on a worker; nothing for a rolled-back transaction.
# Run by scripts/citus-tests.sh, with PGHOST/PGPORT naming the coordinator of
# its three-node cluster.
use strict;
use warnings;
use DBI;
use IO::Select;
use Test::More;

my $host = $ENV{PGHOST} // '127.0.0.1';
my $coordinator = $ENV{PGPORT} or plan skip_all => 'run by scripts/citus-tests.sh (PGPORT: the coordinator)';
my $db = 'citus_notify';
my %options = (RaiseError => 1, AutoCommit => 1, PrintWarn => 0, PrintError => 0);
sub connect_to {
    my ($port, $database) = @_;
    my $dbh = DBI->connect("dbi:Pg:dbname=$database;host=$host;port=$port", 'postgres', undef, \%options);
    $dbh->do('SET client_min_messages = warning');
    return $dbh;
}

my $admin = connect_to($coordinator, $ENV{PGDATABASE} // 'postgres');
# (test/scripts/*.t also run on one server: nothing to test there.)
my ($citus) = $admin->selectrow_array(q{SELECT to_regclass('pg_catalog.pg_dist_node') IS NOT NULL});
plan skip_all => 'needs a Citus coordinator (scripts/citus-tests.sh)' unless $citus;
my @workers = map { $_->[0] } @{$admin->selectall_arrayref(
    'SELECT nodeport FROM pg_dist_node WHERE groupid <> 0 ORDER BY nodeport')};
is(scalar @workers, 2, 'two workers');
for my $port ($coordinator, @workers) {
    my $node = connect_to($port, 'postgres');
    $node->do("DROP DATABASE IF EXISTS $db WITH (FORCE)");
    $node->do("CREATE DATABASE $db");
    $node->disconnect;
    connect_to($port, $db)->do('CREATE EXTENSION citus');
}
my $setup = connect_to($coordinator, $db);
$setup->do("SELECT citus_set_coordinator_host('$host', $coordinator)");
$setup->do("SELECT citus_add_node('$host', $_)") for @workers;
$setup->do($_) for (
    'CREATE EXTENSION segmentation',
    'CREATE SCHEMA shop',
    'CREATE TABLE shop.orders (id bigint NOT NULL, customer_id bigint NOT NULL, amount numeric(10,2), '
        . 'ordered_at timestamptz NOT NULL, PRIMARY KEY (customer_id, id))',
    q{SELECT create_distributed_table('shop.orders', 'customer_id', shard_count => 4)},
    # Customers 1..8, 10 each: none is Big yet.
    q{INSERT INTO shop.orders SELECT g, g, 10, '2024-01-01'::timestamptz + g * interval '1 day' FROM generate_series(1, 8) g},
);
my ($big) = $setup->selectrow_array(q{SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 100}', true)});
my ($vip) = $setup->selectrow_array(q{SELECT segmentation.create_segment('VIP', '{}', false)});
$setup->do(q{SELECT segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at')});
# The customers live on both workers.
my ($nodes) = $setup->selectrow_array(q{SELECT count(DISTINCT nodeport) FROM pg_dist_shard_placement
    WHERE shardid IN (SELECT get_shard_id_for_distribution_column('shop.orders', g) FROM generate_series(1, 8) g)});
is($nodes, 2, 'the customers are spread over both workers');

# Sessions that send their changes at commit have the library loaded (the
# README says to preload it on the coordinator; here, a call loads it) and
# segmentation.citus_notify_at_commit on (off by default: set here for the
# database, so for every session of the test but the one turning it off).
$setup->do("ALTER DATABASE $db SET segmentation.citus_notify_at_commit = on");
my $writer = connect_to($coordinator, $db);
$writer->do(q{SELECT segmentation.check_criteria('{}')});
my $listener = connect_to($coordinator, $db);
$listener->do('LISTEN segmentation_changed');

# Notifications that arrive within $seconds (stops early once $expected have
# arrived), sorted: the order across nodes follows the writes' clocks.
sub received {
    my ($seconds, $expected) = @_;
    my @payloads;
    my $select = IO::Select->new($listener->{pg_socket});
    my $deadline = time + $seconds;
    while ((my $left = $deadline - time) > 0) {
        last if defined $expected && @payloads >= $expected;
        last unless $select->can_read($left);
        while (my $n = $listener->pg_notifies) {
            is($n->[0], 'segmentation_changed', 'channel');
            push @payloads, $n->[2];
        }
    }
    return [sort @payloads];
}
sub customer { my ($id, $added, $removed) = @_;
    return sprintf('{"customer_id": %d, "added": [%s], "removed": [%s]}', $id, join(',', @$added), join(',', @$removed)) }
my $check = connect_to($coordinator, $db);
sub outbox_left { my ($n) = $check->selectrow_array('SELECT count(*) FROM segmentation.notification_outbox'); return $n }

# (a) Order writes through the coordinator.
$writer->do(q{INSERT INTO shop.orders VALUES (101, 1, 200, '2024-06-01')});
is_deeply(received(5, 1), [customer(1, [$big], [])], 'a single-row insert (one shard, no transaction block)');

$writer->begin_work;
$writer->do(q{INSERT INTO shop.orders VALUES (102, 2, 200, '2024-06-01')});
$writer->do(q{INSERT INTO shop.orders VALUES (103, 3, 200, '2024-06-01')});
is_deeply(received(1), [], 'nothing before commit');
$writer->commit;
is_deeply(received(5, 2), [customer(2, [$big], []), customer(3, [$big], [])],
          'a transaction writing through two statements: one notification per customer at commit');

# A multi-shard statement, then a statement undoing part of it: the net change.
$writer->begin_work;
$writer->do(q{UPDATE shop.orders SET amount = amount + 500 WHERE customer_id IN (4, 5, 6, 7)});
$writer->do(q{UPDATE shop.orders SET amount = 10 WHERE customer_id = 7});
$writer->commit;
is_deeply(received(5, 3), [map { customer($_, [$big], []) } 4, 5, 6],
          'multi-shard writes (two-phase commit): the net change per customer');

# A new session: its first statement opens new connections to the workers,
# whose backends load the library only when the trigger fires.
my $fresh = connect_to($coordinator, $db);
$fresh->do(q{SELECT segmentation.check_criteria('{}')});
$fresh->begin_work;
$fresh->do(q{INSERT INTO shop.orders SELECT 320 + g, g, 1000, '2024-06-06' FROM generate_series(7, 8) g});
$fresh->commit;
is_deeply(received(5, 2), [customer(7, [$big], []), customer(8, [$big], [])],
          'INSERT ... SELECT (COPY to the shards) in a transaction block, first statement of new connections');
$fresh->begin_work;
$fresh->do(q{INSERT INTO shop.orders SELECT 300 + g, g, -1000, '2024-06-05' FROM generate_series(7, 8) g});
$fresh->do(q{INSERT INTO shop.orders VALUES (311, 7, 1000, '2024-06-05'), (312, 8, 1000, '2024-06-05')});
$fresh->commit;
is_deeply(received(3), [], 'a transaction whose changes cancel out sends nothing');
$fresh->do(q{DELETE FROM shop.orders WHERE id IN (311, 312, 327, 328, 307, 308)});
is_deeply(received(5, 2), [customer(7, [], [$big]), customer(8, [], [$big])], 'a multi-shard DELETE');
$fresh->disconnect;

$writer->begin_work;
$writer->do(q{DELETE FROM shop.orders WHERE customer_id IN (1, 2, 3, 4)});
$writer->rollback;
is_deeply(received(2), [], 'a rolled-back transaction sends nothing');
is(outbox_left(), 0, 'and leaves nothing in the outbox');

$writer->begin_work;
$writer->do(q{DELETE FROM shop.orders WHERE customer_id = 6});
$writer->do('SAVEPOINT s');
$writer->do(q{DELETE FROM shop.orders WHERE customer_id = 5});
$writer->do('ROLLBACK TO SAVEPOINT s');
$writer->commit;
is_deeply(received(5, 1), [customer(6, [], [$big])], 'work undone by ROLLBACK TO SAVEPOINT is not announced');

# (b) Functions the coordinator fans out to the workers.
$writer->do("SELECT segmentation.assign_manual_segment(8, $vip)");
is_deeply(received(5, 1), [customer(8, [$vip], [])], 'assign_manual_segment (run on the customer\'s node)');
$writer->do("SELECT segmentation.remove_manual_segment(8, $vip, 'test')");
is_deeply(received(5, 1), [customer(8, [], [$vip])], 'remove_manual_segment');

my ($loyal) = $writer->selectrow_array(q{SELECT segmentation.create_segment('Loyal', '{"minOrders": 1}', true)});
my @with_orders = map { $_->[0] } @{$check->selectall_arrayref(
    'SELECT DISTINCT customer_id FROM shop.orders ORDER BY 1')};
is_deeply(received(5, scalar @with_orders), [sort map { customer($_, [$loyal], []) } @with_orders],
          'create_segment: its population on every node, per customer');

# Drift made behind the extension's back, fixed by refresh_all on every node.
$writer->do("DELETE FROM segmentation.assignments WHERE segment_id = $loyal AND customer_id IN (2, 7)");
$writer->do('SELECT segmentation.refresh_all()');
is_deeply(received(5, 2), [customer(2, [$loyal], []), customer(7, [$loyal], [])], 'refresh_all');

$writer->do(q{SELECT segmentation.assign_automatic_segments(3)});
is_deeply(received(2), [], 'assign_automatic_segments with nothing to change sends nothing');
$writer->do("DELETE FROM segmentation.assignments WHERE segment_id = $big AND customer_id = 4");
$writer->do(q{SELECT segmentation.assign_automatic_segments(4)});
is_deeply(received(5, 1), [customer(4, [$big], [])], 'assign_automatic_segments (run on the customer\'s node)');

# Editing a segment re-evaluates its members on every node.
my @between = map { $_->[0] } @{$check->selectall_arrayref(
    'SELECT customer_id FROM segmentation.customer_metrics WHERE lifetime_value >= 100 AND lifetime_value < 400 ORDER BY 1')};
ok(@between >= 2, 'some Big customers are under 400');
$writer->do(qq{SELECT segmentation.update_segment($big, criteria => '{"minLifetimeValue": 400}')});
is_deeply(received(5, scalar @between), [sort map { customer($_, [], [$big]) } @between],
          'update_segment: the customers who leave');
$writer->do(qq{SELECT segmentation.update_segment($big, criteria => '{"minLifetimeValue": 100}')});
is_deeply(received(5, scalar @between), [sort map { customer($_, [$big], []) } @between],
          'update_segment: the customers who enter');

# refresh_due: customer 3 ordered today, so is Recent until 30 days from now;
# evaluated 1,000 days ahead, it leaves. refresh_all (now) brings it back.
$writer->do(q{INSERT INTO shop.orders VALUES (201, 3, 1, now())});
is_deeply(received(2), [], '(customer 3 already in every segment it qualifies for)');
my ($recent) = $writer->selectrow_array(q{SELECT segmentation.create_segment('Recent', '{"maxDaysSinceLastPurchase": 30}', true)});
is_deeply(received(5, 1), [customer(3, [$recent], [])], 'create_segment: one member');
$writer->begin_work;
$writer->do(q{SELECT segmentation.refresh_due(now() + interval '1000 days')});
$writer->rollback;
is_deeply(received(2), [], 'refresh_due rolled back: nothing');
$writer->do(q{SELECT segmentation.refresh_due(now() + interval '1000 days')});
is_deeply(received(5, 1), [customer(3, [], [$recent])], 'refresh_due');
$writer->do('SELECT segmentation.refresh_all()');
is_deeply(received(5, 1), [customer(3, [$recent], [])], 'refresh_all');
$writer->do("SELECT segmentation.delete_segment($recent)");
is_deeply(received(5, 1), [customer(3, [], [$recent])], 'delete_segment');
$writer->do(q{DELETE FROM shop.orders WHERE id = 201});
is_deeply(received(2), [], '(nothing changes)');

# Above segmentation.notify_customer_limit (the coordinator's setting): one
# summary per segment, whatever node the customers are on.
$writer->do('SET segmentation.notify_customer_limit = 2');
$writer->do("SELECT segmentation.delete_segment($loyal)");
is_deeply(received(5, 1), [sprintf('{"segment_id": %d, "added": 0, "removed": %d, "summary": true}',
                                   $loyal, scalar @with_orders)],
          'delete_segment above the limit: one summary');
$writer->do('RESET segmentation.notify_customer_limit');

$writer->do('SET segmentation.notify = off');
$writer->do(q{INSERT INTO shop.orders VALUES (104, 6, 500, '2024-06-02')});
is_deeply(received(2), [], 'segmentation.notify = off on the coordinator silences them');
is(outbox_left(), 0, 'and discards them');
$writer->do('RESET segmentation.notify');

# (c) Writes made straight on a worker: they wait in the outbox until the
# coordinator's deliver_notifications() (pg_cron) sends them.
my $on_worker = connect_to($workers[0], $db);
$on_worker->do(q{INSERT INTO shop.orders VALUES (105, 7, 500, '2024-06-03')});
$on_worker->do(q{INSERT INTO shop.orders VALUES (106, 2, -500, '2024-06-03')});
is_deeply(received(2), [], 'a write on a worker is not announced by itself');
is(outbox_left(), 2, 'it waits in the outbox');
my ($changes) = $writer->selectrow_array('SELECT segmentation.deliver_notifications()');
is($changes, 2, 'deliver_notifications() takes its changes');
is_deeply(received(5, 2), [customer(2, [], [$big]), customer(7, [$big], [])],
          'and the coordinator announces them');
is(outbox_left(), 0, 'the outbox is empty');
($changes) = $writer->selectrow_array('SELECT segmentation.deliver_notifications()');
is($changes, 0, 'a second delivery finds nothing');
is_deeply(received(1), [], 'and sends nothing');

# The default: a session with segmentation.citus_notify_at_commit off (this
# one sent its own before, holding the advisory lock that tells
# deliver_notifications() to skip it) leaves its changes to the delivery.
$writer->do('SET segmentation.citus_notify_at_commit = off');
$writer->do(q{INSERT INTO shop.orders VALUES (108, 9, 500, '2024-06-04')});
is_deeply(received(2), [], 'citus_notify_at_commit off: nothing sent at commit');
is(outbox_left(), 1, 'the change waits in the outbox');
($changes) = $check->selectrow_array('SELECT segmentation.deliver_notifications()');
is($changes, 1, 'deliver_notifications() from another session takes it');
is_deeply(received(5, 1), [customer(9, [$big], [])], 'and announces it');
$writer->do('RESET segmentation.citus_notify_at_commit');

# A session without the library (a superuser's, so it could read the outbox):
# it never sends its changes itself, so deliver_notifications() sends them,
# while it is still connected.
my $plain = connect_to($coordinator, $db);
$plain->do(q{INSERT INTO shop.orders VALUES (107, 8, 500, '2024-06-04')});
is_deeply(received(1), [], 'a session without the library does not send at commit');
($changes) = $writer->selectrow_array('SELECT segmentation.deliver_notifications()');
is($changes, 1, 'deliver_notifications() takes its change');
is_deeply(received(5, 1), [customer(8, [$big], [])], 'and announces it');
$plain->disconnect;

# Sessions of the shop's application, which only writes orders, with the
# library preloaded as the README says (here the build under test, by path).
my ($destdir) = $check->selectrow_array('SHOW extension_destdir');
my ($pkglibdir) = $check->selectrow_array(q{SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'});
my $library = ($destdir // '') . "$pkglibdir/segmentation";
$setup->do("ALTER DATABASE $db SET session_preload_libraries = '$library'");
$setup->do($_) for (
    'CREATE ROLE notify_shop LOGIN', 'CREATE ROLE notify_plain LOGIN',
    'GRANT USAGE ON SCHEMA shop TO notify_shop, notify_plain',
    'GRANT INSERT, SELECT ON shop.orders TO notify_shop, notify_plain',
    'GRANT segmentation_viewer TO notify_shop',
);
sub connect_as {
    my ($role) = @_;
    return DBI->connect("dbi:Pg:dbname=$db;host=$host;port=$coordinator", $role, undef, \%options);
}
my $shop = connect_as('notify_shop');
$shop->do(q{INSERT INTO shop.orders VALUES (108, 5, -600, '2024-06-05')});
is_deeply(received(5, 1), [customer(5, [], [$big])],
          'a preloaded session of a role with segmentation_viewer: sent at its commit');
$shop->begin_work;
$shop->do(q{INSERT INTO shop.orders VALUES (109, 5, 600, '2024-06-05'), (110, 6, -600, '2024-06-05')});
$shop->commit;
is_deeply(received(5, 2), [customer(5, [$big], []), customer(6, [], [$big])], 'and in a transaction block');
my $other = connect_as('notify_plain');
$other->do(q{INSERT INTO shop.orders VALUES (111, 6, 600, '2024-06-05')});
is_deeply(received(1), [], 'a role that may not read the outbox: not sent at its commit');
($changes) = $writer->selectrow_array('SELECT segmentation.deliver_notifications()');
is($changes, 1, 'deliver_notifications() takes its change while the session lives');
is_deeply(received(5, 1), [customer(6, [$big], [])], 'and announces it');
$_->disconnect for ($shop, $other);

is_deeply($check->selectall_arrayref('SELECT count(*) FROM segmentation.verify()'), [[0]], 'no drift');

$_->disconnect for ($writer, $listener, $check, $setup, $on_worker);
for my $port (@workers, $coordinator) {
    connect_to($port, 'postgres')->do("DROP DATABASE $db WITH (FORCE)");
}
$admin->do('DROP ROLE notify_shop, notify_plain');
done_testing();
