#!/usr/bin/perl
# NOTIFY segmentation_changed, seen by a real LISTEN client: sent at commit
# only, once per customer per transaction with the net change, never for
# rolled-back work.
use strict;
use warnings;
use DBI;
use IO::Select;
use Test::More;

my $db = 'segmentation_notify_test';
my $admin = DBI->connect('dbi:Pg:dbname=postgres', undef, undef, { RaiseError => 1, AutoCommit => 1, PrintWarn => 0 });
$admin->do("DROP DATABASE IF EXISTS $db");
$admin->do("CREATE DATABASE $db");

my %options = (RaiseError => 1, AutoCommit => 1, PrintWarn => 0);
my $writer = DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%options);
my $listener = DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%options);

$writer->do($_) for (
    'SET client_min_messages = warning',
    'CREATE EXTENSION segmentation',
    'CREATE TABLE customers (id text PRIMARY KEY, created_at timestamptz NOT NULL, tier text)',
    'CREATE TABLE orders (customer_id text, amount numeric, ordered_at timestamptz)',
    "INSERT INTO customers VALUES ('ann', now(), 'GOLD'), ('bo\"b', now(), NULL)",
    "SELECT segmentation.track_customers('customers', 'id', 'created_at', 'tier')",
    "SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at')",
);
my ($big) = $writer->selectrow_array(q{SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 100}', true)});
my ($regular) = $writer->selectrow_array(q{SELECT segmentation.create_segment('Regular', '{"minOrders": 2}', true)});
my ($vip) = $writer->selectrow_array(q{SELECT segmentation.create_segment('VIP', '{}', false)});

$listener->do('LISTEN segmentation_changed');

# Notifications that arrive within $seconds, as payload strings.
sub received {
    my ($seconds) = @_;
    my @payloads;
    my $select = IO::Select->new($listener->{pg_socket});
    my $deadline = time + $seconds;
    while ((my $left = $deadline - time) > 0) {
        last unless $select->can_read($left);
        while (my $n = $listener->pg_notifies) {
            is($n->[0], 'segmentation_changed', 'channel');
            push @payloads, $n->[2];
        }
        last if @payloads;
    }
    return \@payloads;
}

$writer->begin_work;
$writer->do(q{INSERT INTO orders VALUES ('ann', 150, now())});
is_deeply(received(1), [], 'nothing is sent before commit');
$writer->commit;
is_deeply(received(3), [qq({"customer_id": "ann", "added": [$big], "removed": []})],
          'one notification at commit, with the segment added');

$writer->begin_work;
$writer->do(q{INSERT INTO orders VALUES ('ann', 1, now())});   # enters Regular
$writer->do(q{DELETE FROM orders WHERE amount = 150});          # leaves Big and Regular
$writer->do(q{INSERT INTO orders VALUES ('ann', 200, now())});  # back into Big and Regular
$writer->commit;
is_deeply(received(3), [qq({"customer_id": "ann", "added": [$regular], "removed": []})],
          'three statements, one notification with the net change');

$writer->begin_work;
$writer->do(q{DELETE FROM orders WHERE customer_id = 'ann'});
$writer->rollback;
is_deeply(received(1), [], 'a rolled-back transaction sends nothing');

$writer->begin_work;
$writer->do(q{SELECT segmentation.assign_manual_segment('bo"b', } . $vip . ')');
$writer->do('SAVEPOINT s');
$writer->do(q{INSERT INTO orders VALUES ('bo"b', 500, now())});
$writer->do('ROLLBACK TO SAVEPOINT s');
$writer->commit;
is_deeply(received(3), [qq({"customer_id": "bo\\"b", "added": [$vip], "removed": []})],
          'work undone by ROLLBACK TO SAVEPOINT is not announced; ids are JSON strings');

$writer->do(q{DELETE FROM orders WHERE customer_id = 'ann'});
is_deeply(received(3), [qq({"customer_id": "ann", "added": [], "removed": [$big,$regular]})],
          'removals are announced');

$writer->do('SET segmentation.notify = off');
$writer->do(q{INSERT INTO orders VALUES ('ann', 150, now())});
is_deeply(received(1), [], 'segmentation.notify = off silences notifications');

$writer->disconnect;
$listener->disconnect;
$admin->do("DROP DATABASE $db");
done_testing();
