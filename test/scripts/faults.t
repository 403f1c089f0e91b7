#!/usr/bin/perl
# Faults: a cancel or statement_timeout stops refresh_all() and refresh_due()
# within 100 ms on a shop of FAULT_CUSTOMERS customers (default 1,000,000),
# leaves nothing half-written and the backend healthy; an error in the middle
# of a refresh aborts it cleanly; a backend killed with SIGKILL in the middle
# of refresh_all() leaves, after crash recovery, no drift; and 1,000
# refresh_due() calls in one session do not grow the backend.
use strict;
use warnings;
use DBI;
use Time::HiRes qw(time sleep);
use Test::More;

my $customers = $ENV{FAULT_CUSTOMERS} // 1_000_000;
my $db = 'segmentation_faults_test';
my %options = (RaiseError => 1, AutoCommit => 1, PrintWarn => 0, PrintError => 0);
my $admin = DBI->connect('dbi:Pg:dbname=postgres', undef, undef, \%options);
$admin->do("DROP DATABASE IF EXISTS $db");
$admin->do("CREATE DATABASE $db");

sub connect_db { return DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%options) }

my $setup = connect_db();
diag("building a shop of $customers customers");
$setup->do($_) for (
    'SET client_min_messages = warning',
    'CREATE EXTENSION segmentation',
    'CREATE TABLE customers (id bigint PRIMARY KEY, created_at timestamptz NOT NULL, tier text)',
    'CREATE TABLE orders (customer_id bigint NOT NULL, amount numeric(10,2) NOT NULL, ordered_at timestamptz NOT NULL)',
    "INSERT INTO customers SELECT g, now() - (g % 1000) * interval '1 day', (ARRAY['GOLD','SILVER',NULL])[g % 3 + 1] FROM generate_series(1, $customers) g",
    "INSERT INTO orders SELECT g % $customers + 1, (g % 300) + 0.5, now() - (g % 500) * interval '1 day' FROM generate_series(1, 3 * $customers) g",
    'CREATE INDEX ON orders (customer_id)',
    q{SELECT segmentation.track_customers('customers', 'id', 'created_at', 'tier')},
    q{SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at')},
    q{SELECT segmentation.create_segment('Big', '{"minLifetimeValue": 500}', true)},
    q{SELECT segmentation.create_segment('Gold', '{"loyaltyLevels": ["GOLD"]}', true)},
    q{SELECT segmentation.create_segment('Lapsing', '{"minDaysSinceLastPurchase": 200}', true)},
    'VACUUM ANALYZE',
);

# Stale membership to give the refreshes work: every automatic assignment of
# one segment removed behind the extension's back, and every customer due.
my ($gold) = $setup->selectrow_array(q{SELECT id FROM segmentation.segments WHERE name = 'Gold'});
$setup->do("DELETE FROM segmentation.assignments WHERE segment_id = $gold");
my $fingerprint_sql = q{
    SELECT (SELECT count(*) FROM segmentation.assignments) || '/' ||
           (SELECT count(*) FROM segmentation.assignment_log) || '/' ||
           (SELECT count(*) FROM segmentation.customer_metrics WHERE reevaluate_at IS NOT NULL)};
my ($stale) = $setup->selectrow_array($fingerprint_sql);

# Runs $sql in a fresh session and interrupts it after $after seconds by
# $how ('cancel' from a second session, or 'timeout' through
# statement_timeout). Returns the SQLSTATE and how long after the interrupt
# the statement ended.
sub interrupted {
    my ($sql, $how, $after) = @_;
    my $victim = connect_db();
    my ($pid) = $victim->selectrow_array('SELECT pg_backend_pid()');
    $victim->do("SET statement_timeout = '${\ int($after * 1000)}ms'") if $how eq 'timeout';
    $victim->do($sql, { pg_async => DBD::Pg::PG_ASYNC() });
    my $started = time;
    my $interrupt_at = $started + $after;
    if ($how eq 'cancel') {
        sleep($after);
        $interrupt_at = time;
        $setup->selectrow_array("SELECT pg_cancel_backend($pid)");
    }
    eval { $victim->pg_result(); };
    my $ended = time;
    my $state = $victim->state;
    my $healthy = eval { ($victim->selectrow_array('SELECT 41 + 1'))[0] } // 'unusable';
    $victim->disconnect;
    return ($state, $ended - $interrupt_at, $healthy);
}

for my $case (['SELECT * FROM segmentation.refresh_all()', 'refresh_all()'],
              ['SELECT * FROM segmentation.refresh_due()', 'refresh_due()']) {
    my ($sql, $name) = @$case;
    $setup->do(q{UPDATE segmentation.customer_metrics SET reevaluate_at = '-infinity'}) if $name eq 'refresh_due()';
    ($stale) = $setup->selectrow_array($fingerprint_sql);
    for my $how ('cancel', 'timeout') {
        my ($state, $delay, $healthy) = interrupted($sql, $how, 1.0);
        is($state, '57014', "$name stopped by $how: 57014 query_canceled");
        cmp_ok($delay * 1000, '<', 100, sprintf('%s stopped by %s within 100 ms (%.1f ms)', $name, $how, $delay * 1000));
        is($healthy, 42, "the backend is healthy after $name was stopped by $how");
        my ($after) = $setup->selectrow_array($fingerprint_sql);
        is($after, $stale, "$name stopped by $how left nothing half-written");
    }
}

# An error in the middle of a refresh: criteria corrupted underneath (with
# the segments table's CHECK constraint dropped, as only an owner can).
{
    my $c = connect_db();
    $c->do('ALTER TABLE segmentation.segments DROP CONSTRAINT segments_criteria_check');
    $c->do(q{SET session_replication_role = replica});  # no triggers: the corruption goes unnoticed
    $c->do(q{UPDATE segmentation.segments SET criteria = '{"minOrders": -1}' WHERE name = 'Lapsing'});
    $c->disconnect;
    my $r = connect_db();
    my $ok = eval { $r->do('SELECT * FROM segmentation.refresh_all()'); 1 };
    ok(!$ok, 'refresh_all() refuses to run on corrupted criteria');
    is($r->state, '22023', 'with SQLSTATE 22023');
    like($r->errstr, qr/segment \d+ \("Lapsing"\) has invalid criteria: criteria\.minOrders: expected a non-negative number/,
         'naming the segment and the problem');
    my ($after) = $setup->selectrow_array($fingerprint_sql);
    is($after, $stale, 'and nothing was written');
    $r->disconnect;
    my $fix = connect_db();
    $fix->do(q{UPDATE segmentation.segments SET criteria = '{"minDaysSinceLastPurchase": 200}' WHERE name = 'Lapsing'});
    $fix->do('ALTER TABLE segmentation.segments ADD CONSTRAINT segments_criteria_check CHECK (segmentation.check_criteria(criteria))');
    $fix->disconnect;
    ($stale) = $setup->selectrow_array($fingerprint_sql);  # the repair re-evaluated Lapsing
}

# SIGKILL in the middle of refresh_all(): crash recovery rolls it back, and
# verify() finds the database consistent.
{
    my $victim = connect_db();
    my ($pid) = $victim->selectrow_array('SELECT pg_backend_pid()');
    $victim->do('SELECT * FROM segmentation.refresh_all()', { pg_async => DBD::Pg::PG_ASYNC() });
    sleep(1.0);
    ok(kill('KILL', $pid), "backend $pid killed with SIGKILL during refresh_all()");
    eval { $victim->pg_result() };
    $setup = undef;
    my $back;
    for (1 .. 60) {
        $back = eval { connect_db() };
        last if $back;
        sleep(0.5);
    }
    ok($back, 'the server recovered from the crash');
    $setup = $back;
    my ($after) = $setup->selectrow_array($fingerprint_sql);
    is($after, $stale, 'the killed refresh_all() left nothing behind');
    my $drift = $setup->selectall_arrayref('SELECT * FROM segmentation.verify() LIMIT 5');
    is(scalar(@$drift), 0, 'verify() reports no drift after crash recovery (due customers wait for refresh_due)')
        or diag(explain($drift));
}

# Memory: 1,000 refresh_due() calls, each with some customers due, do not
# grow the backend (resident size and PostgreSQL's memory contexts).
{
    my $s = connect_db();
    my ($pid) = $s->selectrow_array('SELECT pg_backend_pid()');
    my $resident = sub {
        open(my $f, '<', "/proc/$pid/status") or return undef;
        # Private memory only: the shared buffers a backend touches count in
        # VmRSS too, and grow with the pages it reads.
        while (<$f>) { return $1 if /^RssAnon:\s+(\d+) kB/ }
        return undef;
    };
    my $contexts_sql = 'SELECT sum(total_bytes) FROM pg_backend_memory_contexts';
    my $round = sub {
        $s->do(q{UPDATE segmentation.customer_metrics SET reevaluate_at = '-infinity' WHERE customer_id % 10000 = 7});
        $s->do('SELECT * FROM segmentation.refresh_due()');
    };
    $round->() for 1 .. 100;  # warm up caches and plans
    my ($contexts_before) = $s->selectrow_array($contexts_sql);
    my $rss_before = $resident->();
    $round->() for 1 .. 1000;
    my ($contexts_after) = $s->selectrow_array($contexts_sql);
    my $rss_after = $resident->();
    cmp_ok($contexts_after - $contexts_before, '<', 256 * 1024,
           "memory contexts flat over 1,000 refresh_due() calls ($contexts_before -> $contexts_after bytes)");
    SKIP: {
        skip 'cannot read the backend\'s /proc status', 1 unless defined $rss_before && defined $rss_after;
        cmp_ok($rss_after - $rss_before, '<', 2048,
               "private resident memory flat over 1,000 refresh_due() calls ($rss_before -> $rss_after kB)");
    }
    $s->disconnect;
}

$setup->disconnect;
$admin = DBI->connect('dbi:Pg:dbname=postgres', undef, undef, \%options);  # the crash ended the old session
$admin->do("DROP DATABASE $db");
done_testing();
