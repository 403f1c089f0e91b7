#!/usr/bin/perl
# The Citus section of the benchmark: the extension on a 3-node cluster (a
# coordinator and two workers on this machine) against one server, on the
# same generated shop, in one run. Run it through citus.sh, which starts the
# cluster (scripts/citus-tests.sh) and sets PGHOST/PGPORT to the coordinator.
#
#   citus.pl [--customers 1000000] [--reps 3] [--seconds 10] [--clients 4]
#            [--out DIR]
#
# Two databases on the coordinator's server: bench_citus (Citus, customers
# and orders distributed by customer and co-located) and bench_single (no
# Citus: one server, the same PostgreSQL and settings). Both track the
# orders only and get the same orders-only segments. Measured, runs
# interleaved: creating the segments, refresh_all(), verify(), and order
# inserts (pgbench through the coordinator) into the tracked orders and into
# an untracked copy. Per node: the customers each worker holds, and the time
# its share of refresh_all() took there (pg_stat_user_functions of the
# task trigger, track_functions = all), and of the order trigger during the
# inserts. Figures are overheads: on 2 cores, three servers cannot be faster
# than one.
use strict;
use warnings;
use DBI;
use Getopt::Long;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use POSIX qw(strftime);
use Time::HiRes qw(time);
use Cwd qw(abs_path);

my $HERE = dirname(abs_path($0));
my $ROOT = abs_path("$HERE/../..");
my %opt = (customers => 1000000, reps => 3, seconds => 10, clients => 4, out => "$HERE/results");
GetOptions(\%opt, 'customers=i', 'reps=i', 'seconds=i', 'clients=i', 'out=s')
    or die "usage: $0 [--customers N] [--reps N] [--seconds N] [--clients N] [--out DIR]\n";
$ENV{PGOPTIONS} = '-c synchronous_commit=off -c work_mem=64MB';
my $TMP = tempdir(CLEANUP => 1);
my $started = time;
my @failed;

sub progress { printf STDERR "[%s +%4ds] %s\n", strftime('%H:%M:%S', localtime), time - $started, join '', @_ }
sub median { my @s = sort { $a <=> $b } @_; @s ? $s[$#s / 2] : undef }
sub connect_db {
    my ($db, %at) = @_;
    my $host = $at{host} // $ENV{PGHOST};
    my $port = $at{port} // $ENV{PGPORT};
    my $dbh = DBI->connect("dbi:Pg:dbname=$db;host=$host;port=$port", $ENV{PGUSER} // 'postgres', '',
                           {RaiseError => 1, PrintError => 0, AutoCommit => 1});
    $dbh->do('SET client_min_messages = warning');
    return $dbh;
}
sub timed {
    my ($dbh, $sql) = @_;
    my $t0 = time;
    my $rows = $dbh->selectall_arrayref($sql);
    return ((time - $t0) * 1000, $rows->[0] // []);
}
sub check {
    my ($ok, $what) = @_;
    return if $ok;
    push @failed, $what;
    progress("CHECK FAILED: $what");
}
sub psql_file {
    my ($db, @args) = @_;
    system('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, @args) == 0 or die "psql @args failed\n";
}

# The segments: every orders-only key (tracking orders alone gives no
# loyalty level and no customer_since but the first order).
my @SEGMENTS = (
    ['High Value',     '{"minLifetimeValue": 1000, "minOrders": 5}'],
    ['At Risk',        '{"minDaysSinceLastPurchase": 90, "minOrders": 2}'],
    ['Big Spenders',   '{"minLifetimeValue": 2000}'],
    ['Low Value',      '{"maxLifetimeValue": 100}'],
    ['Frequent',       '{"minOrders": 15}'],
    ['One-time',       '{"minOrders": 1, "maxOrders": 1}'],
    ['Premium Basket', '{"minAverageOrderValue": 150}'],
    ['Small Basket',   '{"maxAverageOrderValue": 50, "minOrders": 3}'],
    ['Active 30d',     '{"maxDaysSinceLastPurchase": 30}'],
    ['Lapsed 1y',      '{"minDaysSinceLastPurchase": 365}'],
    ['Mid Value',      '{"minLifetimeValue": 500, "maxLifetimeValue": 1500.50}'],
    ['Either',         '{"any": [{"minOrders": 18}, {"not": {"maxLifetimeValue": 2500}}]}'],
);

my $admin = connect_db('postgres');
for my $db (qw(bench_citus bench_single)) {
    $admin->do("DROP DATABASE IF EXISTS $db WITH (FORCE)");
    $admin->do("CREATE DATABASE $db");
}
my $citus_db = connect_db($ENV{PGDATABASE});
my $nodes = $citus_db->selectall_arrayref(q{SELECT nodename, nodeport FROM pg_dist_node WHERE groupid <> 0 ORDER BY nodeport});
$citus_db->disconnect;
die "no workers in $ENV{PGDATABASE}\n" unless @$nodes;
for my $node (@$nodes) {
    my $dbh = connect_db('postgres', host => $node->[0], port => $node->[1]);
    $dbh->do('DROP DATABASE IF EXISTS bench_citus WITH (FORCE)');
    $dbh->do('CREATE DATABASE bench_citus');
    $dbh->disconnect;
    $dbh = connect_db('bench_citus', host => $node->[0], port => $node->[1]);
    $dbh->do('CREATE EXTENSION citus');
    $dbh->disconnect;
}

my %R;    # $R{$side}{$id} = [samples]
my %INFO;

# ---- set-up ----------------------------------------------------------------
for my $side (qw(single citus)) {
    my $db = "bench_$side";
    progress("$db: generating a shop of $opt{customers} customers");
    my $t0 = time;
    psql_file($db, '-v', "customers=$opt{customers}", '-f', "$ROOT/scripts/generate_shop.sql");
    my $dbh = connect_db($db);
    # The untracked copy, for the inserts' reference.
    $dbh->do('CREATE TABLE shop.orders_plain (LIKE shop.orders INCLUDING DEFAULTS INCLUDING IDENTITY)');
    $dbh->do('INSERT INTO shop.orders_plain (customer_id, amount, ordered_at) SELECT customer_id, amount, ordered_at FROM shop.orders');
    # Citus wants the distribution column in every unique key; both sides alike.
    for my $t (qw(orders orders_plain)) {
        $dbh->do("ALTER TABLE shop.$t DROP CONSTRAINT IF EXISTS ${t}_pkey");
        $dbh->do("ALTER TABLE shop.$t ADD PRIMARY KEY (customer_id, id)");
    }
    $dbh->do('ALTER TABLE shop.orders_plain ADD FOREIGN KEY (customer_id) REFERENCES shop.customers');
    if ($side eq 'citus') {
        # Foreign keys between distributed tables come after distributing.
        $dbh->do('ALTER TABLE shop.orders DROP CONSTRAINT orders_customer_id_fkey');
        $dbh->do('ALTER TABLE shop.orders_plain DROP CONSTRAINT orders_plain_customer_id_fkey');
        $dbh->do('CREATE EXTENSION citus');
        $dbh->do(q{SELECT citus_set_coordinator_host('127.0.0.1', current_setting('port')::int)});
        $dbh->do(q{SELECT citus_add_node(?, ?)}, undef, @$_) for @$nodes;
        progress("$db: distributing customers and orders by customer");
        $dbh->do(q{SELECT create_distributed_table('shop.customers', 'id')});
        $dbh->do(q{SELECT create_distributed_table('shop.orders', 'customer_id', colocate_with => 'shop.customers')});
        $dbh->do(q{SELECT create_distributed_table('shop.orders_plain', 'customer_id', colocate_with => 'shop.customers')});
        $dbh->do(q{SELECT truncate_local_data_after_distributing_table(t) FROM unnest(ARRAY['shop.customers', 'shop.orders', 'shop.orders_plain']::regclass[]) t});
        $dbh->do("ALTER TABLE shop.$_ ADD FOREIGN KEY (customer_id) REFERENCES shop.customers") for qw(orders orders_plain);
    }
    $INFO{$side}{generate_ms} = (time - $t0) * 1000;
    $dbh->do('CREATE EXTENSION segmentation');
    progress("$db: track_orders, ", scalar @SEGMENTS, ' segments');
    my ($ms) = timed($dbh, q{SELECT segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at')});
    $R{$side}{track_orders} = [$ms];
    $t0 = time;
    $dbh->do('SELECT segmentation.create_segment(?, ?::jsonb, true)', undef, @$_) for @SEGMENTS;
    $R{$side}{create_segments} = [(time - $t0) * 1000];
    ($INFO{$side}{members}) = $dbh->selectrow_array('SELECT count(*) FROM segmentation.assignments');
    # The two sides are generated and evaluated minutes apart, so a customer
    # near a bound in days may differ; segments without days must not.
    ($INFO{$side}{timeless}) = $dbh->selectrow_array(q{
        SELECT count(*) FROM segmentation.assignments a JOIN segmentation.segments s ON s.id = a.segment_id
        WHERE s.criteria::text NOT LIKE '%Days%'});
    ($INFO{$side}{orders}) = $dbh->selectrow_array('SELECT count(*) FROM shop.orders');
    $dbh->do('VACUUM ANALYZE');
    $dbh->disconnect;
}
check($INFO{single}{timeless} == $INFO{citus}{timeless},
      "after set-up: $INFO{single}{timeless} members of segments without days on one server, $INFO{citus}{timeless} on Citus");

# Per node: the time the workers spent in a function of the extension,
# between a reset and now (pg_stat_user_functions, track_functions = all).
sub reset_node_stats {
    for my $node (@$nodes) {
        my $dbh = connect_db('bench_citus', host => $node->[0], port => $node->[1]);
        $dbh->do('SELECT pg_stat_reset()');
        $dbh->disconnect;
    }
}
sub node_stats {
    my ($function) = @_;
    sleep 2;    # an idle backend reports its function statistics within a second
    my @per;
    for my $node (@$nodes) {
        my $dbh = connect_db('bench_citus', host => $node->[0], port => $node->[1]);
        my ($calls, $ms) = $dbh->selectrow_array(
            q{SELECT coalesce(sum(calls), 0), coalesce(sum(total_time), 0) FROM pg_stat_user_functions
              WHERE schemaname = 'segmentation' AND funcname = ?}, undef, $function);
        $dbh->disconnect;
        push @per, {node => "$node->[0]:$node->[1]", calls => $calls, ms => $ms};
    }
    return \@per;
}

# ---- refresh_all and verify ------------------------------------------------
my %db = map { $_ => connect_db("bench_$_") } qw(single citus);
my $citus_customers = $db{citus}->selectall_arrayref(q{
    SELECT nodename || ':' || nodeport, sum(result::bigint)
    FROM run_command_on_placements('shop.customers', 'SELECT count(*) FROM %s') GROUP BY 1});
reset_node_stats();
for my $rep (0 .. $opt{reps}) {    # rep 0 warms up
    for my $side (qw(single citus)) {
        progress("bench_$side: refresh_all ($rep/$opt{reps})");
        # A session per call: the workers' backends end with it and report
        # their function statistics.
        my $dbh = connect_db("bench_$side");
        my ($ms, $row) = timed($dbh, 'SELECT added + removed FROM segmentation.refresh_all()');
        $dbh->disconnect;
        push @{$R{$side}{refresh_all}}, $ms if $rep;
    }
}
my $refresh_nodes = node_stats('cluster_task_run');
for my $side (qw(single citus)) {
    my ($ms, $row) = timed($db{$side}, 'SELECT count(*) FROM segmentation.verify()');
    $R{$side}{verify} = [$ms];
    check($row->[0] == 0, "bench_$side: verify() lists $row->[0] problems after refresh_all");
}

# ---- order inserts ------------------------------------------------------------
sub pgbench {
    my ($db, $table) = @_;
    my $script = "$TMP/$db-$table.sql";
    open my $fh, '>', $script or die "$script: $!\n";
    print $fh "\\set cid random(1, $opt{customers})\n\\set cents random(500, 20000)\n",
              "INSERT INTO $table (customer_id, amount, ordered_at) VALUES (:cid, :cents / 100.0, now());\n";
    close $fh;
    my $out = qx{pgbench -n -M prepared -c $opt{clients} -j 2 -T $opt{seconds} -f $script $db 2>&1};
    die "pgbench failed:\n$out\n" if $? != 0 || $out =~ /^(?:pgbench: error|client \d+ aborted)/m;
    my ($tps) = $out =~ /^tps = ([\d.]+) \(without initial connection time\)/m or die "no tps:\n$out\n";
    return $tps;
}
reset_node_stats();
do { my $dbh = connect_db('bench_single'); $dbh->do('SELECT pg_stat_reset()'); $dbh->disconnect };
for my $rep (1 .. $opt{reps}) {
    for my $side (qw(single citus)) {
        for my $table (qw(shop.orders_plain shop.orders)) {
            progress("bench_$side: pgbench into $table ($rep/$opt{reps})");
            push @{$R{$side}{"tps $table"}}, pgbench("bench_$side", $table);
        }
    }
}
my $insert_nodes = node_stats('orders_changed');
my ($single_calls, $single_ms) = do {
    my $dbh = connect_db('bench_single');
    my @r = $dbh->selectrow_array(q{SELECT coalesce(sum(calls), 0), coalesce(sum(total_time), 0) FROM pg_stat_user_functions
                                     WHERE schemaname = 'segmentation' AND funcname = 'orders_changed'});
    $dbh->disconnect;
    @r;
};
for my $side (qw(single citus)) {
    my ($ms, $row) = timed($db{$side}, 'SELECT count(*) FROM segmentation.verify()');
    $R{$side}{verify_after_inserts} = [$ms];
    check($row->[0] == 0, "bench_$side: verify() lists $row->[0] problems after the inserts");
}
$_->disconnect for values %db;

# ---- report ------------------------------------------------------------------
make_path($opt{out});
my $file = "$opt{out}/citus-" . strftime('%Y%m%d-%H%M%S', localtime) . '.txt';
open my $REPORT, '>', $file or die "$file: $!\n";
sub out { print $REPORT @_, "\n"; print @_, "\n" }
sub fmt { my ($v, $unit) = @_; defined $v ? ($unit eq 'tps' ? sprintf('%.0f tps', $v) : sprintf('%.1f ms', $v)) : 'n/a' }
my $m = sub { median(@{$R{$_[0]}{$_[1]} // []}) };
out('segmentation on Citus: 3 nodes (coordinator + 2 workers, one machine) against one server, '
    . strftime('%Y-%m-%d %H:%M', localtime));
out(sprintf '%s customers, %s orders, %d orders-only segments, %s members; medians of %d; pgbench -c %d -j 2 -T %d',
    $opt{customers}, $INFO{single}{orders}, scalar @SEGMENTS, $INFO{single}{members}, $opt{reps}, $opt{clients},
    $opt{seconds});
out(sprintf '  %-46s %16s %16s %10s', 'measurement', 'one server', 'Citus', 'Citus/one');
for (['track_orders' => 'track_orders()', 'ms'], ['create_segments' => 'create the segments (populated)', 'ms'],
     ['refresh_all' => 'refresh_all(), nothing to change', 'ms'], ['verify' => 'verify()', 'ms'],
     ['tps shop.orders_plain' => 'order inserts, untracked table', 'tps'],
     ['tps shop.orders' => 'order inserts, tracked (live)', 'tps'],
     ['verify_after_inserts' => 'verify() after the inserts', 'ms']) {
    my ($id, $label, $unit) = @$_;
    my ($s, $c) = ($m->('single', $id), $m->('citus', $id));
    out(sprintf '  %-46s %16s %16s %10s', $label, fmt($s, $unit), fmt($c, $unit), $s && $c ? sprintf('%.2f', $c / $s) : '');
}
for my $side (qw(single citus)) {
    my ($plain, $tracked) = ($m->($side, 'tps shop.orders_plain'), $m->($side, 'tps shop.orders'));
    out(sprintf '  tracked/untracked on %-10s %.2f', $side eq 'single' ? 'one server' : 'Citus', $tracked / $plain);
}
out(sprintf '  order trigger on one server: %d calls, %.1f µs each (pg_stat_user_functions)', $single_calls,
    $single_calls ? 1000 * $single_ms / $single_calls : 0);
out('per worker (Citus)');
my %customers_of = map { $_->[0] => $_->[1] } @$citus_customers;
for my $i (0 .. $#$nodes) {
    my $node = $refresh_nodes->[$i]{node};
    out(sprintf '  %-20s %9d customers; refresh_all share: %8.1f ms in %d task runs (%.1f ms per refresh); order trigger: %d calls, %.1f µs each',
        $node, $customers_of{$node} // 0, $refresh_nodes->[$i]{ms}, $refresh_nodes->[$i]{calls},
        $refresh_nodes->[$i]{ms} / ($opt{reps} + 1), $insert_nodes->[$i]{calls},
        $insert_nodes->[$i]{calls} ? 1000 * $insert_nodes->[$i]{ms} / $insert_nodes->[$i]{calls} : 0);
}
out(@failed ? 'CHECKS FAILED:' : 'checks: members of the segments without days equal after set-up; verify() clean on both sides, twice');
out("  $_") for @failed;
out("total time: " . sprintf('%.1f min', (time - $started) / 60) . "; report: $file");
exit(@failed ? 3 : 0);
