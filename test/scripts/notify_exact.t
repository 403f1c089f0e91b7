#!/usr/bin/perl
# NOTIFY segmentation_changed in the hard cases, seen by a real LISTEN client:
# a customer id too long for a notification (it is cut, never fails the
# commit), and two-phase commit (sent at COMMIT PREPARED, by whichever
# session finishes the transaction, never after ROLLBACK PREPARED).
# Needs max_prepared_transactions > 0 (pg_virtualenv -o max_prepared_transactions=10).
use strict;
use utf8;
use warnings;
use DBI;
use IO::Select;
use JSON::PP;
use Test::More;

my $db = 'segmentation_notify_exact_test';
my $admin = DBI->connect('dbi:Pg:dbname=postgres', undef, undef, { RaiseError => 1, AutoCommit => 1, PrintWarn => 0 });
$admin->do("DROP DATABASE IF EXISTS $db");
$admin->do("CREATE DATABASE $db");

my %options = (RaiseError => 1, AutoCommit => 1, PrintWarn => 0, PrintError => 0);
my $writer = DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%options);
my $listener = DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%options);

$writer->do($_) for (
    'SET client_min_messages = warning',
    'CREATE EXTENSION segmentation',
    'CREATE TABLE customers (id text PRIMARY KEY, created_at timestamptz NOT NULL, tier text)',
    'CREATE TABLE orders (customer_id text, amount numeric, ordered_at timestamptz)',
    "INSERT INTO customers VALUES ('ann', '2024-01-01', NULL)",
    "SELECT segmentation.track_customers('customers', 'id', 'created_at', 'tier')",
    "SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at')",
);
my ($big) = $writer->selectrow_array(q{SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 100}', true)});
my ($any) = $writer->selectrow_array(q{SELECT segmentation.create_segment('Any', '{}', true)});

$listener->do('LISTEN segmentation_changed');

# Notifications that arrive within $seconds (stops at the first batch), decoded.
sub received {
    my ($seconds) = @_;
    my @payloads;
    my $select = IO::Select->new($listener->{pg_socket});
    my $deadline = time + $seconds;
    while ((my $left = $deadline - time) > 0) {
        last unless $select->can_read($left);
        while (my $n = $listener->pg_notifies) {
            push @payloads, JSON::PP->new->decode($n->[2]);
        }
        last if @payloads;
    }
    return \@payloads;
}

sub drift { ($writer->selectrow_array(q{SELECT count(*) FROM segmentation.verify('2030-01-01')}))[0] }

# ---- a customer id longer than a notification --------------------------------

my $long = 'é' x 4500;   # 9,000 bytes of UTF-8
ok(eval { $writer->do('INSERT INTO customers VALUES (?, now(), NULL)', undef, $long); 1 },
   'a new customer with a 9,000-byte id commits') or diag($@);
my $got = received(3);
is(scalar @$got, 1, 'it is announced');
my ($cut) = grep { $_->{truncated} } @$got;
ok($cut, 'the notification says it was cut') or $cut = {};
ok(length($cut->{customer_id} // '') > 0 && length($cut->{customer_id}) < length($long)
   && index($long, $cut->{customer_id} // '') == 0, 'its customer_id is a prefix of the id, cut at a character');
is_deeply($cut->{added}, [$any], 'the segments still fit in it');

ok(eval { $writer->do('INSERT INTO orders VALUES (?, 150, now())', undef, $long); 1 },
   'an order of that customer commits') or diag($@);
$cut = received(3)->[0] // {};
is_deeply([$cut->{truncated}, $cut->{added}, $cut->{removed}], [JSON::PP::true, [$big], []],
          'the order is announced');

ok(eval { $writer->do(q{UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 1000}' WHERE id = ?}, undef, $big); 1 },
   'a criteria edit that removes that customer commits') or diag($@);
$cut = received(3)->[0] // {};
is_deeply([$cut->{truncated}, $cut->{added}, $cut->{removed}], [JSON::PP::true, [], [$big]],
          'the criteria edit is announced');

ok(eval { $writer->do('DELETE FROM customers'); 1 }, 'DELETE FROM customers commits') or diag($@);
$got = received(3);
is(scalar @$got, 2, 'both customers are announced');
is(drift(), 0, 'verify() finds no drift');

$writer->do(q{UPDATE segmentation.segments SET criteria = '{"minLifetimeValue": 100}' WHERE id = ?}, undef, $big);
$writer->do(q{INSERT INTO customers VALUES ('ann', '2024-01-01', NULL)});
is_deeply(received(3), [{customer_id => 'ann', added => [$any], removed => []}], 'a short id is not cut');

# ---- two-phase commit ----------------------------------------------------------

my ($prepared_max) = $writer->selectrow_array('SHOW max_prepared_transactions');
ok($prepared_max > 0, 'the cluster allows prepared transactions (max_prepared_transactions > 0)')
    or BAIL_OUT('run with max_prepared_transactions > 0');

$writer->do('BEGIN');
$writer->do(q{INSERT INTO orders VALUES ('ann', 150, now())});
$writer->do(q{PREPARE TRANSACTION 'seg_p1'});
is_deeply(received(1), [], 'nothing is sent at PREPARE TRANSACTION');
$writer->do(q{COMMIT PREPARED 'seg_p1'});
is_deeply(received(3), [{customer_id => 'ann', added => [$big], removed => []}],
          'COMMIT PREPARED sends the notification');

$writer->do('BEGIN');
$writer->do(q{DELETE FROM orders WHERE customer_id = 'ann'});
$writer->do(q{PREPARE TRANSACTION 'seg_p2'});
$writer->do(q{ROLLBACK PREPARED 'seg_p2'});
is_deeply(received(1), [], 'ROLLBACK PREPARED sends nothing');

# Prepared in one session, finished in another (one that has used the
# extension, so that its library is loaded).
my $finisher = DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%options);
$finisher->do(q{SELECT segmentation.check_criteria('{}')});
$writer->do('BEGIN');
$writer->do(q{DELETE FROM orders WHERE customer_id = 'ann'});
$writer->do('SAVEPOINT s');
$writer->do(q{DELETE FROM customers WHERE id = 'ann'});
$writer->do('ROLLBACK TO SAVEPOINT s');
$writer->do(q{PREPARE TRANSACTION 'seg_p3'});
$writer->disconnect;
is_deeply(received(1), [], 'nothing is sent while the transaction is prepared');
$finisher->do(q{COMMIT PREPARED 'seg_p3'});
is_deeply(received(3), [{customer_id => 'ann', added => [], removed => [$big]}],
          'another session\'s COMMIT PREPARED sends it, without the work rolled back to a savepoint');
is_deeply(received(1), [], 'and only once');

# Finished by a session that has not loaded the extension's library: the
# notification waits for the next COMMIT PREPARED of a session that has.
$writer = DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%options);
$writer->do('BEGIN');
$writer->do(q{INSERT INTO orders VALUES ('ann', 150, now())});
$writer->do(q{PREPARE TRANSACTION 'seg_p4'});
my $stranger = DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%options);
$stranger->do(q{COMMIT PREPARED 'seg_p4'});
$stranger->disconnect;
is_deeply(received(1), [], 'COMMIT PREPARED without the library loaded sends nothing yet');
$writer->do('BEGIN');
$writer->do(q{SELECT 1});
$writer->do(q{PREPARE TRANSACTION 'seg_p5'});
$finisher->do(q{COMMIT PREPARED 'seg_p5'});
is_deeply(received(3), [{customer_id => 'ann', added => [$big], removed => []}],
          'the next COMMIT PREPARED in a session that has it sends it');
is(drift(), 0, 'verify() finds no drift');
is(($writer->selectrow_array('SELECT count(*) FROM pg_prepared_xacts'))[0], 0, 'no prepared transaction is left');

$writer->disconnect;
$finisher->disconnect;
$listener->disconnect;
$admin->do("DROP DATABASE $db");
done_testing();
