#!/usr/bin/perl
# NOTIFY segmentation_changed for big transactions, seen by a real LISTEN
# client: up to segmentation.notify_customer_limit changed customers, one
# notification per customer as always; above it, one summary per changed
# segment with exact counts, savepoint rollbacks and two-phase commit included;
# online segment changes send summaries only.
use strict;
use warnings;
use DBI;
use IO::Select;
use JSON::PP;
use Test::More;

my $db = 'segmentation_notify_scale_test';
my $admin = DBI->connect('dbi:Pg:dbname=postgres', undef, undef, { RaiseError => 1, AutoCommit => 1, PrintWarn => 0 });
$admin->do("DROP DATABASE IF EXISTS $db");
$admin->do("CREATE DATABASE $db");

my %options = (RaiseError => 1, AutoCommit => 1, PrintWarn => 0, PrintError => 0);
my $writer = DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%options);
my $listener = DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%options);

$writer->do($_) for (
    'SET client_min_messages = warning',
    'CREATE EXTENSION segmentation',
    'CREATE TABLE customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL)',
    'CREATE TABLE orders (customer_id bigint, amount numeric, ordered_at timestamptz)',
    "INSERT INTO customers SELECT i, '2024-01-01' FROM generate_series(1, 60) i",
    "SELECT segmentation.track_customers('customers', 'id', 'created_at')",
    "SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at')",
);
my ($big) = $writer->selectrow_array(q{SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 100}', true)});
my ($buyer) = $writer->selectrow_array(q{SELECT segmentation.create_segment('Buyer', '{"minOrders": 1}', true)});

$listener->do('LISTEN segmentation_changed');

# The notifications of the next commit(s), decoded: waits for the first, then
# until none has come for a second.
sub received {
    my ($seconds) = @_;
    my @payloads;
    my $select = IO::Select->new($listener->{pg_socket});
    my $deadline = time + $seconds;
    while ((my $left = $deadline - time) > 0) {
        last unless $select->can_read(@payloads ? 1 : $left);
        while (my $n = $listener->pg_notifies) {
            push @payloads, JSON::PP->new->canonical->decode($n->[2]);
        }
    }
    return \@payloads;
}

sub summary {
    my ($segment, $added, $removed) = @_;
    return { segment_id => $segment, added => $added, removed => $removed, summary => JSON::PP::true };
}

sub drift { ($writer->selectrow_array(q{SELECT count(*) FROM segmentation.verify('2030-01-01')}))[0] }

# ---- the setting ---------------------------------------------------------------

is(($writer->selectrow_array('SHOW segmentation.notify_customer_limit'))[0], '1000', 'the limit defaults to 1,000');
ok(!eval { $writer->do('SET segmentation.notify_customer_limit = 0'); 1 }, 'a limit below 1 is refused');
is($writer->state, '22023', 'with invalid_parameter_value');
$writer->do('SET segmentation.notify_customer_limit = 5');

# ---- up to the limit: per customer, as always --------------------------------

$writer->do(q{INSERT INTO orders VALUES (1, 150, '2024-02-01')});
is_deeply(received(3), [{ customer_id => 1, added => [$big, $buyer], removed => [] }],
          'a single customer gets its per-customer notification');

$writer->do(q{INSERT INTO orders SELECT i, 150, '2024-02-01' FROM generate_series(2, 6) i});
is_deeply(received(3), [map { { customer_id => $_, added => [$big, $buyer], removed => [] } } 2 .. 6],
          'exactly the limit of customers: one notification each');

# ---- above the limit: one summary per changed segment ------------------------

$writer->do(q{INSERT INTO orders SELECT i, 150, '2024-02-01' FROM generate_series(7, 56) i});
is_deeply(received(3), [summary($big, 50, 0), summary($buyer, 50, 0)],
          'a bulk INSERT of 50 customers\' orders: one summary per segment, exact counts');

$writer->do(q{UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 1000}' WHERE id = ?}, undef, $big);
is_deeply(received(3), [summary($big, 0, 56)], 'a criteria edit that moves 56 customers: one summary');

$writer->do(q{SELECT segmentation.set_live_evaluation('orders', false)});
$writer->do(q{INSERT INTO orders SELECT i, 2000, '2024-03-01' FROM generate_series(1, 50) i});
is_deeply(received(2), [], 'live evaluation off: the load itself moves nobody');
$writer->do('SELECT segmentation.refresh_all()');
is_deeply(received(3), [summary($big, 50, 0)], 'refresh_all moving 50 customers: one summary');
$writer->do(q{SELECT segmentation.set_live_evaluation('orders', true)});

# ---- savepoints ----------------------------------------------------------------

$writer->begin_work;
$writer->do(q{DELETE FROM orders WHERE amount = 2000 AND customer_id <= 20});   # 20 leave Big
$writer->do('SAVEPOINT s');
$writer->do(q{DELETE FROM orders WHERE amount = 2000 AND customer_id > 20});    # 30 more, undone
$writer->do('ROLLBACK TO SAVEPOINT s');
$writer->do('SAVEPOINT t');
$writer->do(q{INSERT INTO orders VALUES (57, 5000, '2024-04-01')});             # enters both
$writer->do('RELEASE SAVEPOINT t');
$writer->do('SAVEPOINT u');
$writer->do(q{INSERT INTO orders VALUES (58, 5000, '2024-04-01')});             # undone
$writer->do('ROLLBACK TO SAVEPOINT u');
$writer->commit;
is_deeply(received(3), [summary($big, 1, 20), summary($buyer, 1, 0)],
          'a big transaction: rolled-back savepoints are taken out of the counts exactly');

$writer->begin_work;
$writer->do(q{INSERT INTO orders VALUES (59, 5000, '2024-04-01')});             # before the switch
$writer->do('SAVEPOINT s');
$writer->do(q{DELETE FROM orders WHERE amount = 2000});                         # the switch, undone
$writer->do('ROLLBACK TO SAVEPOINT s');
$writer->commit;
is_deeply(received(3), [summary($big, 1, 0), summary($buyer, 1, 0)],
          'changes made before the switch count once, those of the rolled-back savepoint not at all');

$writer->begin_work;
$writer->do(q{DELETE FROM orders WHERE amount = 2000});
$writer->rollback;
is_deeply(received(2), [], 'a rolled-back big transaction sends nothing');

# ---- two-phase commit ----------------------------------------------------------

SKIP: {
    my ($prepared) = $writer->selectrow_array('SHOW max_prepared_transactions');
    skip 'max_prepared_transactions is 0', 2 if $prepared == 0;
    $writer->do('BEGIN');
    $writer->do(q{DELETE FROM orders WHERE amount = 2000});                     # 30 leave Big
    $writer->do(q{PREPARE TRANSACTION 'scale'});
    is_deeply(received(2), [], 'nothing is sent at PREPARE TRANSACTION');
    $writer->do(q{COMMIT PREPARED 'scale'});
    is_deeply(received(3), [summary($big, 0, 30)], 'COMMIT PREPARED sends the summary');
}

# ---- online segment changes -----------------------------------------------------

# Each step of an online change (README "Changing segments online") sends one
# summary per segment it moved anyone in, however few: a million customers
# make a hundred steps, never a million notifications.
my ($buyers) = $writer->selectrow_array("SELECT count(*) FROM segmentation.assignments WHERE segment_id = $buyer");
ok($buyers > 0, "$buyers buyers");
$writer->do(qq{CALL segmentation.update_segment_concurrently($buyer, '{"minOrders": 1000}')});
is_deeply(received(3), [summary($buyer, 0, $buyers)], 'an online redefinition sends a summary, not one per customer');
my ($everyone) = $writer->selectrow_array(q{CALL segmentation.create_segment_concurrently('Everyone', '{}')});
is_deeply(received(3), [summary($everyone, 60, 0)], 'an online creation too');
$writer->do(qq{CALL segmentation.delete_segment_concurrently($everyone)});
is_deeply(received(3), [summary($everyone, 0, 60)], 'and an online deletion');

is(drift(), 0, 'no drift');

$writer->disconnect;
$listener->disconnect;
$admin->do("DROP DATABASE $db");
done_testing();
