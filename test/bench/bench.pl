#!/usr/bin/perl
# The segmentation benchmark: the extension against a plain SQL/PL/pgSQL
# baseline (baseline.sql) of the same semantics, in one run, on the same
# data. Run it through run.sh, which starts a throwaway cluster unless PGHOST
# names a server; see README.md beside this file for what is measured.
#
#   bench.pl [--sizes 10000,100000,1000000] [--keys bigint,text,uuid]
#            [--reps 3] [--seconds 10] [--clients 4] [--threads 2]
#            [--smoke] [--keep] [--out DIR] [--only edits|windows|inserts] [--reuse]
#
# Every figure is the median of --reps runs, and each comparison is made
# between runs interleaved in time, on the same database. Set-up steps die
# on the first error (exit status non-zero); a disagreement between the
# extension and the baseline is reported as a failed check (exit status 3).
use strict;
use warnings;
use DBI;
use Getopt::Long;
use File::Basename qw(dirname);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use POSIX qw(strftime);
use Time::HiRes qw(time sleep);
use Cwd qw(abs_path);
use Digest::MD5;

my $HERE = dirname(abs_path($0));
my $ROOT = abs_path("$HERE/../..");

my %opt = (sizes => '10000,100000,1000000', keys => 'bigint,text,uuid', reps => 3, seconds => 10,
           clients => 4, threads => 2, smoke => 0, keep => 0, out => "$HERE/results", only => '', reuse => 0);
GetOptions(\%opt, 'sizes=s', 'keys=s', 'reps=i', 'seconds=i', 'clients=i', 'threads=i', 'smoke', 'keep', 'out=s',
           'only=s', 'reuse')
    or die "usage: $0 [--sizes N,N] [--keys bigint,text,uuid] [--reps N] [--seconds N] [--smoke] [--keep] [--out DIR] [--only edits|windows|inserts] [--reuse]\n";
if ($opt{smoke}) {
    # Every measurement path once, on a small shop: a check that the
    # benchmark works, not a measurement.
    %opt = (%opt, sizes => '2000', reps => 1, seconds => 1);
}
my @SIZES = split /,/, $opt{sizes};
my @KEYS = split /,/, $opt{keys};
die "--reps must be at least 1\n" if $opt{reps} < 1;
# --reuse (with --only edits): measure the edits again on a database a run
# with --keep left tracked, without generating and tracking it again.
die "--reuse needs --only edits\n" if $opt{reuse} && $opt{only} ne 'edits';
$opt{keep} = 1 if $opt{reuse};

# How each kind of customer key is made from the generated shop's integer
# ids: the same shop, with text ids or uuid ids.
my %KEY = (
    bigint => {type => 'bigint', of => sub { $_[0] }},
    text   => {type => 'text',   of => sub { "('cust-' || $_[0])" }},
    uuid   => {type => 'uuid',   of => sub { "md5('cust-' || $_[0])::uuid" }},
);
for (@KEYS) { die "unknown key type $_ (bigint, text, uuid)\n" unless $KEY{$_} }

# Every session of the benchmark: commits do not wait for the disk (insert
# throughput then measures the work of an insert, not the flush latency),
# and hash aggregates of a million groups do not spill.
$ENV{PGOPTIONS} = join ' ', grep { defined && length }
    ($ENV{BENCH_PGOPTIONS} // '-c synchronous_commit=off -c work_mem=64MB'), $ENV{PGOPTIONS};

make_path($opt{out});
my $stamp = strftime('%Y%m%d-%H%M%S', localtime);
my $report_file = "$opt{out}/bench-$stamp.txt";
my $raw_file = "$opt{out}/bench-$stamp.tsv";
open my $RAW, '>', $raw_file or die "$raw_file: $!\n";
$RAW->autoflush(1);
print $RAW join("\t", qw(size key measurement median_ms samples_ms info)), "\n";
my $TMP = tempdir(CLEANUP => 1);
my $started = time;
my @failed_checks;
my %R;    # $R{$size}{$key}{$id} = {ms => median, samples => [...], info => '...', ...}

sub progress { printf STDERR "[%s +%4ds] %s\n", strftime('%H:%M:%S', localtime), time - $started, join '', @_ }

sub median {
    my @s = sort { $a <=> $b } @_;
    return undef unless @s;
    return @s % 2 ? $s[$#s / 2] : ($s[@s / 2 - 1] + $s[@s / 2]) / 2;
}

sub dbname { my ($size, $key) = @_; "bench_${size}_$key" }

sub connect_db {
    my ($db) = @_;
    my $dbh = DBI->connect("dbi:Pg:dbname=$db", undef, undef,
                           {RaiseError => 1, PrintError => 0, PrintWarn => 0, AutoCommit => 1,
                            pg_server_prepare => 0});
    $dbh->do('SET client_min_messages = warning');
    return $dbh;
}

sub run_psql {
    my ($db, @args) = @_;
    my @cmd = ('psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', $db, @args);
    system(@cmd) == 0 or die "failed: @cmd\n";
}

# Runs $sql (one statement) and returns (milliseconds, first row as array ref).
sub timed {
    my ($dbh, $sql) = @_;
    my $t0 = time;
    my $rows = $dbh->selectall_arrayref($sql);
    return ((time - $t0) * 1000, $rows->[0] // []);
}

sub record {
    my ($size, $key, $id, $samples, %extra) = @_;
    my $r = {ms => median(@$samples), samples => $samples, info => '', %extra};
    $R{$size}{$key}{$id} = $r;
    print $RAW join("\t", $size, $key, $id, sprintf('%.3f', $r->{ms} // 0),
                    join(',', map { sprintf '%.3f', $_ } @$samples), $r->{info}), "\n";
    return $r;
}

sub check {
    my ($ok, $what) = @_;
    return if $ok;
    push @failed_checks, $what;
    progress("CHECK FAILED: $what");
}

###########################################################################
# Set-up
###########################################################################

sub drop_db {
    my ($db) = @_;
    my $dbh = connect_db('postgres');
    $dbh->do(qq{DROP DATABASE IF EXISTS "$db" WITH (FORCE)});
    $dbh->disconnect;
}

# The generated shop (scripts/generate_shop.sql) in bench_<size>_bigint, and
# copies of it for the other key types, made before anything else is set up.
sub generate {
    my ($size) = @_;
    my $base = dbname($size, 'bigint');
    drop_db(dbname($size, $_)) for keys %KEY;
    my $dbh = connect_db('postgres');
    $dbh->do(qq{CREATE DATABASE "$base"});
    progress("generating a shop of $size customers in $base");
    my $t0 = time;
    run_psql($base, '-v', "customers=$size", '-f', "$ROOT/scripts/generate_shop.sql");
    # Two attribute columns for the attribute segments (segments.sql): a
    # country (1 in 13 unknown) and a birth date (1 in 10 unknown), derived
    # from the id, so every key type's copy has the same values.
    my $shop = connect_db($base);
    $shop->do('ALTER TABLE shop.customers ADD COLUMN country text, ADD COLUMN birth_date date');
    $shop->do(q{UPDATE shop.customers
                   SET country = CASE WHEN id % 13 = 0 THEN NULL
                                      ELSE (ARRAY['DE', 'FR', 'AT', 'CH', 'US', 'GB', 'NL', 'IT'])[1 + id % 8] END,
                       birth_date = CASE WHEN id % 10 = 0 THEN NULL
                                         ELSE date '1950-01-01' + (id * 7919 % 20000)::int END});
    $shop->do('VACUUM (FULL, ANALYZE) shop.customers');    # no dead half left by the UPDATE
    $shop->disconnect;
    record($size, 'bigint', 'generate', [(time - $t0) * 1000]);
    for my $key (grep { $_ ne 'bigint' } @KEYS) {
        my $db = dbname($size, $key);
        $dbh->do(qq{CREATE DATABASE "$db" TEMPLATE "$base" STRATEGY FILE_COPY});
    }
    $dbh->disconnect;
}

# Tracks the shop, creates the segments, the untracked copy of the orders
# and the baseline, and checks that extension and baseline agree.
sub set_up {
    my ($size, $key) = @_;
    my $db = dbname($size, $key);
    my $k = $KEY{$key};
    my $dbh = connect_db($db);
    if ($key ne 'bigint') {
        progress("$db: retyping customer ids to $key");
        my $expr = $k->{of};
        $dbh->do('ALTER TABLE shop.orders DROP CONSTRAINT orders_customer_id_fkey');
        $dbh->do(sprintf 'ALTER TABLE shop.customers ALTER COLUMN id TYPE %s USING %s', $k->{type}, $expr->('id'));
        $dbh->do(sprintf 'ALTER TABLE shop.orders ALTER COLUMN customer_id TYPE %s USING %s',
                 $k->{type}, $expr->('customer_id'));
        $dbh->do('ALTER TABLE shop.orders ADD FOREIGN KEY (customer_id) REFERENCES shop.customers');
    }
    progress("$db: tracking the shop and its attributes, creating 23 automatic segments and VIP");
    $dbh->do('CREATE EXTENSION segmentation');
    my ($ms) = timed($dbh, q{SELECT segmentation.track_customers('shop.customers', 'id', 'created_at', 'loyalty_level')});
    record($size, $key, 'track_customers', [$ms]);
    ($ms) = timed($dbh, q{SELECT segmentation.track_customer_attributes('{country, birth_date}')});
    record($size, $key, 'track_customer_attributes', [$ms]);
    ($ms) = timed($dbh, q{SELECT segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at')});
    record($size, $key, 'track_orders', [$ms]);
    my $t0 = time;
    run_psql($db, '-o', '/dev/null', '-f', "$HERE/segments.sql");
    record($size, $key, 'create_segments', [(time - $t0) * 1000]);

    # The same orders, untracked: the "no tracking" set-up of the insert test.
    progress("$db: untracked copy of the orders, and the baseline");
    $dbh->do('CREATE SCHEMA bench');
    $dbh->do('CREATE TABLE bench.orders_plain (LIKE shop.orders INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING CONSTRAINTS)');
    $dbh->do('INSERT INTO bench.orders_plain OVERRIDING SYSTEM VALUE SELECT * FROM shop.orders');
    $dbh->do(q{SELECT setval(pg_get_serial_sequence('bench.orders_plain', 'id'), (SELECT max(id) FROM bench.orders_plain))});
    $dbh->do('ALTER TABLE bench.orders_plain ADD PRIMARY KEY (id)');
    $dbh->do('CREATE INDEX ON bench.orders_plain (customer_id)');
    $dbh->do('ALTER TABLE bench.orders_plain ADD FOREIGN KEY (customer_id) REFERENCES shop.customers');

    # The floor: the cheapest synchronous bookkeeping anyone could write, a
    # PL/pgSQL row trigger bumping a per-customer counter row (count, sum,
    # latest), on another copy of the orders.
    $dbh->do('CREATE TABLE bench.orders_counted (LIKE bench.orders_plain INCLUDING ALL)');
    $dbh->do('INSERT INTO bench.orders_counted OVERRIDING SYSTEM VALUE SELECT * FROM bench.orders_plain');
    $dbh->do(q{SELECT setval(pg_get_serial_sequence('bench.orders_counted', 'id'), (SELECT max(id) FROM bench.orders_counted))});
    $dbh->do('ALTER TABLE bench.orders_counted ADD FOREIGN KEY (customer_id) REFERENCES shop.customers');
    $dbh->do(sprintf 'CREATE TABLE bench.customer_counters (customer_id %s PRIMARY KEY, order_count bigint NOT NULL, '
                     . 'total numeric NOT NULL, last_order_at timestamptz) WITH (fillfactor = 90)', $k->{type});
    $dbh->do(q{INSERT INTO bench.customer_counters
               SELECT c.id, count(o.customer_id), coalesce(sum(o.amount), 0), max(o.ordered_at)
               FROM shop.customers c LEFT JOIN bench.orders_counted o ON o.customer_id = c.id GROUP BY c.id});
    $dbh->do(q{CREATE FUNCTION bench.count_order() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN
                   UPDATE bench.customer_counters
                      SET order_count = order_count + 1, total = total + NEW.amount,
                          last_order_at = greatest(last_order_at, NEW.ordered_at)
                    WHERE customer_id = NEW.customer_id;
                   RETURN NULL;
               END $$});
    $dbh->do('CREATE TRIGGER count_order AFTER INSERT ON bench.orders_counted FOR EACH ROW EXECUTE FUNCTION bench.count_order()');

    run_psql($db, '-o', '/dev/null', '-v', "keytype=$k->{type}", '-f', "$HERE/baseline.sql");
    ($ms) = timed($dbh, 'SELECT baseline.sync_from_extension()');
    record($size, $key, 'baseline_populate', [$ms]);

    progress("$db: VACUUM ANALYZE");
    $dbh->do('VACUUM ANALYZE');

    # Both refreshed at one instant (one transaction): the same membership.
    $dbh->begin_work;
    $dbh->do('SELECT segmentation.refresh_all()');
    $dbh->do('SELECT baseline.refresh()');
    my $diff = membership_diff($dbh);
    $dbh->commit;
    check($diff == 0, "$db: after set-up, extension and baseline memberships differ in $diff assignments");
    my ($orders, $customers, $segments) = $dbh->selectrow_array(
        q{SELECT (SELECT count(*) FROM shop.orders), (SELECT count(*) FROM shop.customers),
                 (SELECT count(*) FROM segmentation.segments WHERE is_automatic)});
    my ($members) = $dbh->selectrow_array('SELECT count(*) FROM segmentation.assignments');
    $R{$size}{$key}{facts} = {orders => $orders, customers => $customers, segments => $segments, members => $members};
    $dbh->disconnect;
}

# For --only edits: the shop tracked, with the 20 segments and VIP.
sub set_up_tracking_only {
    my ($size, $key) = @_;
    my $db = dbname($size, $key);
    die "--only edits measures bigint keys\n" unless $key eq 'bigint';
    my $dbh = connect_db($db);
    progress("$db: tracking the shop (with its attributes), creating the segments");
    $dbh->do('CREATE EXTENSION segmentation');
    $dbh->do(q{SELECT segmentation.track_customers('shop.customers', 'id', 'created_at', 'loyalty_level')});
    $dbh->do(q{SELECT segmentation.track_orders('shop.orders', 'customer_id', 'amount', 'ordered_at')});
    $dbh->do(q{SELECT segmentation.track_customer_attributes('{country, birth_date}')});
    run_psql($db, '-o', '/dev/null', '-f', "$HERE/segments.sql");
    $dbh->disconnect;
    record_facts($size, $key);
}

# The shop's size, for the report.
sub record_facts {
    my ($size, $key) = @_;
    my $dbh = connect_db(dbname($size, $key));
    my ($orders, $customers, $segments, $members) = $dbh->selectrow_array(
        q{SELECT (SELECT count(*) FROM shop.orders), (SELECT count(*) FROM shop.customers),
                 (SELECT count(*) FROM segmentation.segments WHERE is_automatic),
                 (SELECT count(*) FROM segmentation.assignments)});
    $R{$size}{$key}{facts} = {orders => $orders, customers => $customers, segments => $segments, members => $members};
    $dbh->disconnect;
}

# Assignments in one of extension and baseline but not the other.
sub membership_diff {
    my ($dbh) = @_;
    my ($n) = $dbh->selectrow_array(q{
        SELECT count(*) FROM (
            (SELECT customer_id, segment_id FROM segmentation.assignments
             EXCEPT ALL SELECT customer_id, segment_id FROM baseline.assignments)
            UNION ALL
            (SELECT customer_id, segment_id FROM baseline.assignments
             EXCEPT ALL SELECT customer_id, segment_id FROM segmentation.assignments)) d});
    return $n;
}

###########################################################################
# Measurements
###########################################################################

# 4. segment_match over the cross join of all customers and the automatic
# segments, against the baseline's jsonb expression, the bare cross join,
# and one constant criteria against a hand-written WHERE. One transaction:
# now() is the same instant for every query, so the counts must agree.
my @MATCH = (
    [match_ext => q{SELECT count(*) FROM segmentation.customer_metrics m, segmentation.segments s
                    WHERE s.is_automatic AND segmentation.segment_match(m, s.criteria)}],
    [match_base => q{SELECT count(*) FROM segmentation.customer_metrics m, segmentation.segments s
                     WHERE s.is_automatic AND baseline.matches(m, s.criteria)}],
    # The planner gives the baseline's costly expression a parallel worker
    # (and JIT) from about 100,000 customers on: the same in one process.
    [match_base_serial => q{SELECT count(*) FROM segmentation.customer_metrics m, segmentation.segments s
                            WHERE s.is_automatic AND baseline.matches(m, s.criteria)},
     'max_parallel_workers_per_gather = 0'],
    [match_cross => q{SELECT count(*) FROM segmentation.customer_metrics m, segmentation.segments s
                      WHERE s.is_automatic}],
    [hv_ext => q{SELECT count(*) FROM segmentation.customer_metrics m
                 WHERE segmentation.segment_match(m, '{"minLifetimeValue": 1000, "minOrders": 5, "loyaltyLevels": ["GOLD", "PLATINUM"]}')}],
    [hv_sql => q{SELECT count(*) FROM segmentation.customer_metrics m
                 WHERE m.lifetime_value >= 1000 AND m.order_count >= 5 AND m.loyalty_level IN ('GOLD', 'PLATINUM')}],
    [ar_ext => q{SELECT count(*) FROM segmentation.customer_metrics m
                 WHERE segmentation.segment_match(m, '{"minDaysSinceLastPurchase": 90, "maxPurchaseFrequency": 0.5}')}],
    [ar_sql => q{SELECT count(*) FROM segmentation.customer_metrics m
                 WHERE m.last_order_at <= now() - interval '2160 hours'
                   AND m.order_count * 30 * 86400 <= 0.5 * greatest(extract(epoch FROM now() - m.customer_since), 86400)}],
);

sub measure_match {
    my ($size, $key, $dbh) = @_;
    progress(dbname($size, $key), ': segment_match against jsonb SQL');
    my (%samples, %count);
    $dbh->begin_work;
    for my $rep (0 .. $opt{reps}) {    # rep 0 warms up
        for my $q (@MATCH) {
            $dbh->do("SET LOCAL $q->[2]") if $q->[2];
            my ($ms, $row) = timed($dbh, $q->[1]);
            $dbh->do('RESET ' . ($q->[2] =~ s/\s*=.*//r)) if $q->[2];
            next unless $rep;
            push @{$samples{$q->[0]}}, $ms;
            $count{$q->[0]} = $row->[0];
        }
    }
    $dbh->commit;
    record($size, $key, $_->[0], $samples{$_->[0]}, rows => $count{$_->[0]}, info => "rows=$count{$_->[0]}") for @MATCH;
    my $db = dbname($size, $key);
    check($count{match_ext} == $count{match_base} && $count{match_base} == $count{match_base_serial},
          "$db: segment_match matched $count{match_ext} pairs, baseline.matches $count{match_base} "
          . "($count{match_base_serial} in one process)");
    check($count{hv_ext} == $count{hv_sql}, "$db: High Value: segment_match $count{hv_ext} rows, SQL $count{hv_sql}");
    check($count{ar_ext} == $count{ar_sql}, "$db: At Risk: segment_match $count{ar_ext} rows, SQL $count{ar_sql}");
}

# The 1% (or other fraction) of customers a repetition changes: a sample
# that is the same for every set-up.
sub sample { my ($percent, $seed) = @_; "SELECT id FROM shop.customers TABLESAMPLE BERNOULLI ($percent) REPEATABLE ($seed)" }

# 2. refresh_all with nothing to change and after 1% of the customers
# changed, against the baseline's refresh and a bare GROUP BY over orders.
sub measure_refresh {
    my ($size, $key, $dbh) = @_;
    my $db = dbname($size, $key);
    progress("$db: refresh_all, baseline.refresh and GROUP BY, nothing to change");
    # The GROUP BY's rows are consumed by an aggregate that reads every
    # column, so that all of them are computed and none sent to the client.
    my @nothing = (
        [groupby => q{SELECT count(*), sum(v), sum(n), max(l) FROM
                      (SELECT customer_id, sum(amount) AS v, count(*) AS n, max(ordered_at) AS l
                       FROM shop.orders GROUP BY 1) g}],
        [refresh_all_0 => 'SELECT * FROM segmentation.refresh_all()'],
        [base_refresh_0 => 'SELECT * FROM baseline.refresh()'],
    );
    my (%samples, %row);
    for my $rep (1 .. $opt{reps}) {
        for my $q ($rep % 2 ? @nothing : reverse @nothing) {
            my ($ms, $r) = timed($dbh, $q->[1]);
            push @{$samples{$q->[0]}}, $ms;
            $row{$q->[0]} = $r;
        }
    }
    for my $id (qw(groupby refresh_all_0 base_refresh_0)) {
        my $info = $id eq 'groupby' ? "groups=$row{$id}[0]" : "customers=$row{$id}[0] added=$row{$id}[1] removed=$row{$id}[2]";
        record($size, $key, $id, $samples{$id}, info => $info);
    }

    progress("$db: refresh_all and baseline.refresh after 1% of customers changed");
    # Each repetition: live evaluation off, one new order for 1% of the
    # customers in both orders tables (metrics exact, membership stale), both
    # refreshes timed, memberships compared, all rolled back.
    %samples = ();
    for my $rep (1 .. $opt{reps}) {
        $dbh->begin_work;
        # Both sides first catch up with the clock at this transaction's
        # instant (untimed): a customer whose membership flipped with time
        # between the two committed refreshes above would otherwise count as a
        # change on one side only.
        $dbh->do('SELECT segmentation.refresh_all()');
        $dbh->do('SELECT baseline.refresh()');
        $dbh->do(q{SELECT segmentation.set_live_evaluation('shop.orders', false)});
        $dbh->do(q{SET LOCAL baseline.live = off});
        my $changed = $dbh->do('INSERT INTO shop.orders (customer_id, amount, ordered_at) SELECT id, 1200, now() FROM ('
                               . sample(1, $rep) . ') s');
        $dbh->do('INSERT INTO baseline.orders (customer_id, amount, ordered_at) SELECT id, 1200, now() FROM ('
                 . sample(1, $rep) . ') s');
        my @order = ([refresh_all_1 => 'SELECT * FROM segmentation.refresh_all()'],
                     [base_refresh_1 => 'SELECT * FROM baseline.refresh()']);
        for my $q ($rep % 2 ? @order : reverse @order) {
            my ($ms, $r) = timed($dbh, $q->[1]);
            push @{$samples{$q->[0]}}, $ms;
            $row{$q->[0]} = $r;
        }
        my $diff = membership_diff($dbh);
        $dbh->rollback;
        check($diff == 0, "$db: after 1% changed (repetition $rep), memberships differ in $diff assignments");
        check($row{refresh_all_1}[1] == $row{base_refresh_1}[1] && $row{refresh_all_1}[2] == $row{base_refresh_1}[2],
              "$db: after 1% changed, refresh_all added/removed $row{refresh_all_1}[1]/$row{refresh_all_1}[2], "
              . "baseline $row{base_refresh_1}[1]/$row{base_refresh_1}[2]");
        $row{changed} = $changed;
    }
    for my $id (qw(refresh_all_1 base_refresh_1)) {
        record($size, $key, $id, $samples{$id}, changed => $row{changed},
               info => "changed=$row{changed} customers=$row{$id}[0] added=$row{$id}[1] removed=$row{$id}[2]");
    }
}

# 3. refresh_due with 0%, 0.1% and 1% of the customers due (reevaluate_at
# set to -infinity in a transaction that is rolled back afterwards), each
# repetition after a VACUUM of customer_metrics.
sub measure_due {
    my ($size, $key, $dbh) = @_;
    my $db = dbname($size, $key);
    progress("$db: refresh_due at 0%, 0.1% and 1% due");
    $dbh->do('SELECT segmentation.refresh_due()');    # whoever the clock made due since set-up
    for my $percent (0, 0.1, 1) {
        my (@samples, $row);
        for my $rep (1 .. $opt{reps}) {
            # Each repetition leaves dead index entries at the front of the
            # reevaluate_at index (its rolled-back update, and the refreshes
            # before): clear them, as autovacuum does in a running system, or
            # every scan for due customers walks the previous runs' leftovers.
            $dbh->do('VACUUM segmentation.customer_metrics');
            $dbh->begin_work;
            if ($percent > 0) {
                $dbh->do(q{UPDATE segmentation.customer_metrics SET reevaluate_at = '-infinity'
                           WHERE customer_id IN (} . sample($percent, $rep) . ')');
            }
            my ($ms, $r) = timed($dbh, 'SELECT * FROM segmentation.refresh_due()');
            $dbh->rollback;
            push @samples, $ms;
            $row = $r;
        }
        record($size, $key, "due_$percent", \@samples, due => $row->[0],
               info => "customers=$row->[0] added=$row->[1] removed=$row->[2]");
    }
}

# One pgbench run of the SQL script $text (written to $TMP/$name.sql) on
# $db, prepared, with @options (clients, threads, duration); dies unless
# every transaction went through, and returns pgbench's output.
sub pgbench {
    my ($db, $name, $text, @options) = @_;
    my $script = "$TMP/$name.sql";
    open my $fh, '>', $script or die "$script: $!\n";
    print $fh $text;
    close $fh;
    my $out = qx{pgbench -n -M prepared @options -f $script $db 2>&1};
    die "pgbench failed:\n$out\n" if $? != 0 || $out =~ /^(?:pgbench: error|client \d+ aborted)/m;
    my ($failed) = $out =~ /^number of failed transactions: (\d+)/m;
    die "pgbench: $failed failed transactions\n$out\n" if $failed;
    return $out;
}

# The mean latency of a transaction (ms) in pgbench's output.
sub latency_of {
    my ($out) = @_;
    my ($latency) = $out =~ /^latency average = ([\d.]+) ms/m or die "no latency in pgbench output:\n$out\n";
    return $latency;
}

# The returning customers of the insert measurement: a pool of P customers
# spread over the shop, ids step, 2 step, ..., P step (step = size / P),
# who ordered today (measure_inserts gives them that order).
sub returning_pool {
    my ($size) = @_;
    my $pool = int($size / 20);
    $pool = 50_000 if $pool > 50_000;
    $pool = 1 if $pool < 1;
    return ($pool, int($size / $pool));
}

# Order inserts into $table (one order per transaction) after a checkpoint,
# with the benchmark's clients: the throughput. Random customers over the
# whole shop, or with $returning the pool of returning_pool().
sub pgbench_inserts {
    my ($db, $size, $key, $table, $name, $returning) = @_;
    my ($pool, $step) = returning_pool($size);
    my $cid = $returning ? "random(1, $pool) * $step" : "random(1, $size)";
    my $dbh = connect_db($db);
    $dbh->do('CHECKPOINT');
    $dbh->disconnect;
    my $out = pgbench($db, $name,
                      "\\set cid $cid\n\\set cents random(500, 20000)\n"
                      . "INSERT INTO $table (customer_id, amount, ordered_at) VALUES ("
                      . $KEY{$key}{of}->(':cid') . ", :cents / 100.0, now());\n",
                      '-c', $opt{clients}, '-j', $opt{threads}, '-T', $opt{seconds});
    my ($tps) = $out =~ /^tps = ([\d.]+) \(without initial connection time\)/m
        or die "no tps in pgbench output:\n$out\n";
    return $tps;
}

# Where shop.orders and the assignment log stand (their last ids), and what
# was written to them since: orders inserted, and membership changes (log
# rows 'added' or 'removed').
sub log_mark {
    my ($dbh) = @_;
    return [$dbh->selectrow_array(q{SELECT (SELECT coalesce(max(id), 0) FROM shop.orders),
                                           (SELECT coalesce(max(id), 0) FROM segmentation.assignment_log)})];
}
sub changes_since {
    my ($dbh, $mark) = @_;
    return $dbh->selectrow_array(q{SELECT (SELECT count(*) FROM shop.orders WHERE id > ?),
                                          (SELECT count(*) FROM segmentation.assignment_log
                                           WHERE id > ? AND action IN ('added', 'removed'))}, undef, @$mark);
}

# 1. Order-insert throughput with pgbench: the untracked copy, the tracked
# orders table and the baseline's orders table with its row trigger, runs
# interleaved, one order per transaction. Two customer distributions:
# random customers over the whole shop, most of whom last ordered months
# ago, so that almost every order changes the customer's membership; and
# returning customers (ids suffixed _ret), a pool who already ordered today,
# closer to issue 11's common case (membership unchanged). For the tracked
# live runs of both, the membership changes per order.
sub measure_inserts {
    my ($size, $key) = @_;
    my $db = dbname($size, $key);
    # tps_quiet: tracked, with the extension's notifications off for the
    # session (SET segmentation.notify = off), to show what they cost.
    # tps_counter: the floor (the counter trigger, set_up); tps_metrics:
    # tracked with set_live_evaluation(false), metrics only.
    my %table = (tps_plain => 'bench.orders_plain', tps_tracked => 'shop.orders', tps_quiet => 'shop.orders',
                 tps_baseline => 'baseline.orders', tps_counter => 'bench.orders_counted', tps_metrics => 'shop.orders');
    $table{"${_}_ret"} = $table{$_} for qw(tps_plain tps_counter tps_tracked tps_metrics);
    my %note = (tps_quiet => ', notifications off', tps_metrics => ', live evaluation off');
    $note{"${_}_ret"} = ($note{$_} // '') . ', returning customers' for qw(tps_plain tps_counter tps_tracked tps_metrics);

    # The returning customers' order of today, in every table the runs insert
    # into, at one instant and with the same amounts: the tables start from
    # the same state. Each table's own bookkeeping runs as for any order (the
    # extension's live evaluation, the counter trigger, the baseline's
    # trigger), so each stays consistent with its orders. In transactions of
    # 1,000 orders: the baseline's trigger takes a lock per customer, which a
    # transaction of 50,000 would run out of.
    my ($pool, $step) = returning_pool($size);
    progress("$db: $pool returning customers (ids $step, 2×$step, ...) order today");
    my $dbh = connect_db($db);
    my $t0 = time;
    my ($today) = $dbh->selectrow_array('SELECT now()::text');
    my %seen;
    for my $t (grep { !$seen{$_}++ } sort values %table) {
        for (my $first = 1; $first <= $pool; $first += 1000) {
            my $last = $first + 999 < $pool ? $first + 999 : $pool;
            $dbh->do(sprintf 'INSERT INTO %s (customer_id, amount, ordered_at) '
                             . 'SELECT %s, (500 + g * 7919 %% 19501) / 100.0, %s::timestamptz '
                             . 'FROM generate_series(%d, %d) g',
                     $t, $KEY{$key}{of}->("(g * $step)"), $dbh->quote($today), $first, $last);
        }
    }
    record($size, $key, 'returning_pool', [(time - $t0) * 1000], pool => $pool, step => $step,
           info => "customers=$pool step=$step tables=" . join(',', sort keys %seen));
    $dbh->disconnect;

    my (%samples, %changes);
    for my $rep (1 .. $opt{reps}) {
        for my $id (qw(tps_plain tps_counter tps_tracked tps_metrics tps_baseline tps_quiet
                       tps_plain_ret tps_counter_ret tps_tracked_ret tps_metrics_ret)) {
            progress("$db: pgbench into $table{$id}", $note{$id} // '', " ($rep/$opt{reps})");
            my $dbh = connect_db($db);
            $dbh->do(q{SELECT segmentation.set_live_evaluation('shop.orders', false)}) if $id =~ /^tps_metrics/;
            local $ENV{PGOPTIONS} = "$ENV{PGOPTIONS} -c segmentation.notify=off" if $id eq 'tps_quiet';
            my $mark = $id =~ /^tps_tracked/ ? log_mark($dbh) : undef;
            my $tps = pgbench_inserts($db, $size, $key, $table{$id}, $id, $id =~ /_ret$/ ? 1 : 0);
            push @{$samples{$id}}, $tps;
            if ($mark) {
                my ($orders, $logged) = changes_since($dbh, $mark);
                die "$db: no orders inserted into shop.orders by $id\n" unless $orders;
                push @{$changes{$id =~ s/^tps_tracked/changes_per_order/r}}, [$logged / $orders, $orders, $logged];
            }
            if ($id =~ /^tps_metrics/) {
                # Live again, and the customers marked due meanwhile brought up to date.
                $dbh->do(q{SELECT segmentation.set_live_evaluation('shop.orders', true)});
                $dbh->do('SELECT segmentation.refresh_due()');
            }
            $dbh->disconnect;
        }
    }
    record($size, $key, $_, $samples{$_}, tps => median(@{$samples{$_}})) for sort keys %samples;
    # changes_per_order(_ret): membership changes per order, with the sums over the runs.
    for my $id (sort keys %changes) {
        my ($orders, $logged) = (0, 0);
        ($orders, $logged) = ($orders + $_->[1], $logged + $_->[2]) for @{$changes{$id}};
        record($size, $key, $id, [map { $_->[0] } @{$changes{$id}}], orders => $orders, logged => $logged,
               info => "orders=$orders membership_changes=$logged");
    }

    verify($size, $key, 'verify', 'the concurrent inserts');
}

# Segment edits while orders arrive. A writer process inserts orders without
# pause (one per transaction, random customers) and records when each
# started and how long it took; meanwhile each kind of edit runs once, plain
# (one transaction: create_segment, UPDATE ... SET criteria, DELETE) and
# online (the *_concurrently procedures). For each: the edit's duration, the
# worst latency of an insert that overlapped it (the stall), the worst in
# the second before it (reference), and the notifications a LISTEN client
# received while it ran and just after (orders' own included).
sub start_writer {
    my ($db, $size, $key, $stop, $log) = @_;
    my $pid = fork // die "fork: $!\n";
    return $pid if $pid;
    my $ok = eval {
        my $dbh = connect_db($db);
        my $sth = $dbh->prepare(sprintf 'INSERT INTO shop.orders (customer_id, amount, ordered_at) VALUES (%s, ?, now())',
                                $KEY{$key}{of}->('(?)::bigint'));
        open my $fh, '>', $log or die "$log: $!\n";
        $fh->autoflush(1);  # the parent waits for the first lines
        until (-e $stop) {
            my $t0 = time;
            $sth->execute(1 + int(rand($size)), sprintf('%.2f', 5 + rand(195)));
            printf $fh "%.6f %.6f\n", $t0, time - $t0;
        }
        close $fh;
        $dbh->disconnect;
        1;
    };
    print STDERR "writer: $@" unless $ok;
    POSIX::_exit($ok ? 0 : 1);
}

sub measure_edits {
    my ($size, $key) = @_;
    my $db = dbname($size, $key);
    my $dbh = connect_db($db);
    my $listener = connect_db($db);
    $listener->do('LISTEN segmentation_changed');
    my $criteria = '{"minLifetimeValue": 700, "minOrders": 3}';
    my $edited = '{"minLifetimeValue": 400, "maxDaysSinceLastPurchase": 365}';
    my $id_of = sub { ($dbh->selectrow_array(q{SELECT id FROM segmentation.segments WHERE name = 'Bench edit'}))[0] };
    my @edits = (
        [plain_create  => sub { $dbh->do(qq{SELECT segmentation.create_segment('Bench edit', '$criteria', true)}) }],
        [plain_update  => sub { $dbh->do(qq{UPDATE segmentation.segments SET criteria = '$edited' WHERE name = 'Bench edit'}) }],
        [plain_delete  => sub { $dbh->do(q{DELETE FROM segmentation.segments WHERE name = 'Bench edit'}) }],
        [online_create => sub { $dbh->do(qq{CALL segmentation.create_segment_concurrently('Bench edit', '$criteria')}) }],
        [online_update => sub { my $id = $id_of->(); $dbh->do(qq{CALL segmentation.update_segment_concurrently($id, '$edited')}) }],
        [online_delete => sub { my $id = $id_of->(); $dbh->do(qq{CALL segmentation.delete_segment_concurrently($id)}) }],
    );
    for my $edit (@edits) {
        my ($id, $run) = @$edit;
        progress("$db: $id while orders arrive");
        my ($stop, $log) = ("$TMP/stop_${size}_${key}_$id", "$TMP/writer_${size}_${key}_$id.log");
        unlink $stop, $log;
        my $writer = start_writer($db, $size, $key, $stop, $log);
        # Orders flowing first: 20 inserts, or 10 s at most.
        for (my $waited = 0; $waited < 10; $waited += 0.1) {
            last if -e $log && (() = do { open my $in, '<', $log; <$in> }) >= 20;
            sleep 0.1;
        }
        sleep 1;
        1 while $listener->pg_notifies;  # what came before the edit
        my $t0 = time;
        $run->();
        my $t1 = time;
        sleep 1;
        my $notifications = 0;
        $notifications++ while $listener->pg_notifies;
        open my $touch, '>', $stop or die "$stop: $!\n";
        close $touch;
        waitpid($writer, 0);
        die "the writer failed during $id\n" if $?;
        my ($stall, $before, $count) = (0, 0, 0);
        open my $fh, '<', $log or die "$log: $!\n";
        while (<$fh>) {
            my ($start, $latency) = split;
            if ($start < $t1 && $start + $latency > $t0) { $stall = $latency if $latency > $stall; $count++ }
            elsif ($start + $latency <= $t0 && $start >= $t0 - 1) { $before = $latency if $latency > $before }
        }
        close $fh;
        record($size, $key, "edit_$id", [($t1 - $t0) * 1000], stall => $stall * 1000, before => $before * 1000,
               inserts => $count, notifications => $notifications);
    }
    $listener->disconnect;
    $dbh->disconnect;
    verify($size, $key, 'verify_edits', 'the edits');
}

# The cost of one order against the size of the customer's history: a new
# customer with no orders and one given 10,000 orders at once, then single
# order inserts for each (one per transaction), into the tracked orders and
# into the baseline's. Incremental metrics keep the extension's cost flat;
# the baseline re-aggregates the customer's history on every order.
sub measure_history {
    my ($size, $key) = @_;
    my $db = dbname($size, $key);
    progress("$db: one order for a customer with 1 and with 10,000 orders");
    my $history = $opt{smoke} ? 1000 : 10000;
    my $inserts = $opt{smoke} ? 100 : 1000;
    my $dbh = connect_db($db);
    my $of = $KEY{$key}{of};
    my ($short, $long) = ($size + 1, $size + 2);
    $dbh->do(sprintf q{INSERT INTO shop.customers (id, created_at, loyalty_level) VALUES (%s, now() - interval '2 years', 'GOLD'), (%s, now() - interval '2 years', 'GOLD')},
             $of->($short), $of->($long));
    for my $table ('shop.orders', 'baseline.orders') {
        $dbh->do(sprintf q{INSERT INTO %s (customer_id, amount, ordered_at)
                           SELECT %s, 10 + g %% 90, now() - g * interval '1 hour' FROM generate_series(1, %d) g},
                 $table, $of->($long), $history);
    }
    $dbh->do('VACUUM ANALYZE shop.orders, baseline.orders, segmentation.customer_metrics, segmentation.assignments');
    $dbh->disconnect;
    my %samples;
    for my $rep (1 .. $opt{reps}) {
        for my $side (['ext', 'shop.orders'], ['base', 'baseline.orders']) {
            for my $who (['short', $short], ['long', $long]) {
                my $id = "history_$side->[0]_$who->[0]";
                my $insert = "INSERT INTO $side->[1] (customer_id, amount, ordered_at) VALUES ("
                             . $of->($who->[1]) . ", 25, now());\n";
                # ms per order (one per transaction)
                push @{$samples{$id}}, latency_of(pgbench($db, $id, $insert, '-c', 1, '-j', 1, '-t', $inserts));
            }
        }
    }
    record($size, $key, $_, $samples{$_}, history => $history) for keys %samples;
}

# The extension's own check: segmentation.verify() must list nothing.
sub verify {
    my ($size, $key, $id, $after) = @_;
    my $db = dbname($size, $key);
    my $dbh = connect_db($db);
    my $t0 = time;
    my $problems = $dbh->selectall_arrayref('SELECT * FROM segmentation.verify()');
    my $ms = (time - $t0) * 1000;
    my $n = @$problems;
    my %kinds;
    $kinds{$_->[1]}++ for @$problems;
    record($size, $key, $id, [$ms], info => "problems=$n " . join(' ', map { "$_=$kinds{$_}" } sort keys %kinds));
    check($n == 0, "$db: segmentation.verify() lists $n problems after $after ("
                   . join(', ', map { "$kinds{$_} $_" } sort keys %kinds) . '), e.g. '
                   . join('; ', map { join ' | ', map { $_ // 'NULL' } @$_ } @$problems[0 .. ($n > 3 ? 2 : $n - 1)]));
    $dbh->disconnect;
}

# 6. Time windows in the mix: three segments on order behaviour in the last
# D days (one also on an attribute), created with the orders index the
# README asks for. Their membership after refresh_all() is compared with the
# same windows evaluated in plain SQL (one GROUP BY over the last 90 days of
# orders), at one instant; then the costs: creating (populating) them,
# refresh_all() with them against that SQL, segment_match(customer id) on a
# 1% sample against the same SQL on it, and order inserts with windows in use
# against the untracked copy, runs interleaved. Windows in days are exact
# durations (as_of - ordered_at <= D × 86,400 s), hence the hours below.
my @WINDOW_SEGMENTS = (
    ['Repeat 30d',      '{"window": {"days": 30, "minOrders": 2}}',                       q{coalesce(w.orders_30, 0) >= 2}],
    ['Low Spend 90d',   '{"minOrders": 1, "window": {"days": 90, "maxSpend": 50}}',       q{m.order_count >= 1 AND coalesce(w.spend_90, 0) <= 50}],
    ['German Big Week', '{"attributes": {"country": {"equals": "DE"}}, "window": {"days": 7.5, "minSpend": 100}}',
     q{c.country = 'DE' AND coalesce(w.spend_7_5, 0) >= 100}],
);
my $WINDOW_NAMES = join ', ', map { "'$_->[0]'" } @WINDOW_SEGMENTS;

# The windows' memberships in plain SQL: (customer_id, segment_id) rows of
# the customers in $customers (a query of ids).
sub window_members_sql {
    my ($customers) = @_;
    my $when = join ' ', map { "WHEN '$_->[0]' THEN $_->[2]" } @WINDOW_SEGMENTS;
    return qq{
        WITH w AS (
            SELECT customer_id,
                   count(*) FILTER (WHERE ordered_at >= now() - interval '720 hours') AS orders_30,
                   sum(amount) AS spend_90,
                   sum(amount) FILTER (WHERE ordered_at >= now() - interval '180 hours') AS spend_7_5
            FROM shop.orders
            WHERE ordered_at >= now() - interval '2160 hours' AND customer_id IN ($customers)
            GROUP BY customer_id)
        SELECT m.customer_id, s.id AS segment_id
        FROM segmentation.customer_metrics m
        JOIN shop.customers c ON c.id = m.customer_id
        LEFT JOIN w ON w.customer_id = m.customer_id
        JOIN segmentation.segments s ON s.name IN ($WINDOW_NAMES)
        WHERE m.customer_id IN ($customers) AND CASE s.name $when END};
}

sub measure_windows {
    my ($size, $key) = @_;
    my $db = dbname($size, $key);
    my $dbh = connect_db($db);
    progress("$db: window criteria: the orders index, 3 window segments");
    $dbh->do('CREATE INDEX bench_orders_customer_time ON shop.orders (customer_id, ordered_at)');
    $dbh->do('ANALYZE shop.orders');
    my $values = join ', ', map { "('$_->[0]', '$_->[1]', true)" } @WINDOW_SEGMENTS;
    my ($ms) = timed($dbh, "INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES $values RETURNING id");
    record($size, $key, 'windows_create', [$ms]);

    # Exact: the extension's memberships against the SQL, at one instant.
    my $all = 'SELECT id FROM shop.customers';
    my $members = window_members_sql($all);
    $dbh->begin_work;
    $dbh->do('SELECT segmentation.refresh_all()');
    my ($diff, $n) = $dbh->selectrow_array(qq{
        WITH ext AS (SELECT a.customer_id, a.segment_id FROM segmentation.assignments a
                     JOIN segmentation.segments s ON s.id = a.segment_id WHERE s.name IN ($WINDOW_NAMES)),
             sql AS ($members)
        SELECT (SELECT count(*) FROM ((TABLE ext EXCEPT ALL TABLE sql) UNION ALL (TABLE sql EXCEPT ALL TABLE ext)) d),
               (SELECT count(*) FROM ext)});
    $dbh->commit;
    check($diff == 0, "$db: window segments: the extension's and the SQL's memberships differ in $diff assignments");

    my $picked = sample(1, 7);
    my @runs = (
        [windows_refresh_all => 'SELECT * FROM segmentation.refresh_all()'],
        [windows_sql => "SELECT count(*) FROM ($members) x"],
        [windows_match_ext => qq{SELECT count(*) FROM ($picked) p, segmentation.segments s
                                 WHERE s.name IN ($WINDOW_NAMES) AND segmentation.segment_match(p.id, s.criteria)}],
        [windows_match_sql => 'SELECT count(*) FROM (' . window_members_sql($picked) . ') x'],
    );
    my (%samples, %count);
    for my $rep (0 .. $opt{reps}) {    # rep 0 warms up
        progress("$db: refresh_all and matching with windows ($rep/$opt{reps})");
        $dbh->begin_work;              # one instant for the sample's two counts
        for my $q (@runs) {
            my ($t, $row) = timed($dbh, $q->[1]);
            next unless $rep;
            push @{$samples{$q->[0]}}, $t;
            $count{$q->[0]} = $row->[0];
        }
        $dbh->commit;
    }
    my ($pairs) = $dbh->selectrow_array("SELECT count(*) * 3 FROM ($picked) p");
    record($size, $key, $_->[0], $samples{$_->[0]}, rows => $count{$_->[0]}, pairs => $pairs,
           members => $n, info => "rows=$count{$_->[0]}") for @runs;
    check($count{windows_match_ext} == $count{windows_match_sql},
          "$db: window segments on a 1% sample: segment_match matched $count{windows_match_ext}, the SQL $count{windows_match_sql}");

    # Order inserts while windows are in use, against the untracked copy.
    my %table = (tps_windows => 'shop.orders', tps_windows_plain => 'bench.orders_plain');
    my %tps;
    for my $rep (1 .. $opt{reps}) {
        for my $id (qw(tps_windows_plain tps_windows)) {
            progress("$db: pgbench into $table{$id}, windows in use ($rep/$opt{reps})");
            push @{$tps{$id}}, pgbench_inserts($db, $size, $key, $table{$id}, $id);
        }
    }
    record($size, $key, $_, $tps{$_}, tps => median(@{$tps{$_}})) for keys %tps;
    $dbh->disconnect;
    verify($size, $key, 'verify_windows', 'the window segments and their inserts');

    # As before for the steps that follow.
    $dbh = connect_db($db);
    $dbh->do("DELETE FROM segmentation.segments WHERE name IN ($WINDOW_NAMES)");
    $dbh->do('DROP INDEX shop.bench_orders_customer_time');
    $dbh->disconnect;
}

# 7. The admin API a UI calls: customer_segments() as the first call of a
# fresh backend (library load and caches included) and as the second,
# against the same rows read by a plain join as the first query of another
# fresh backend; then segment_sizes(), a page of segment_members() from the
# middle of the keys, explain_match(), preview() and preview_change().
sub measure_api {
    my ($size, $key) = @_;
    my $db = dbname($size, $key);
    progress("$db: the admin API, first calls in fresh backends");
    my $customer = sub { $KEY{$key}{of}->(int($size / 2) + $_[0]) };
    my (%s, @first_rows);
    for my $i (1 .. 5) {
        my $dbh = connect_db($db);
        my ($first, $row) = timed($dbh, 'SELECT count(*) FROM segmentation.customer_segments(' . $customer->($i) . ')');
        my ($second) = timed($dbh, 'SELECT count(*) FROM segmentation.customer_segments(' . $customer->($i + 10) . ')');
        $dbh->disconnect;
        $dbh = connect_db($db);
        my ($plain, $plain_row) = timed($dbh, 'SELECT count(*) FROM segmentation.assignments a JOIN segmentation.segments s '
                                               . 'ON s.id = a.segment_id WHERE a.customer_id = ' . $customer->($i));
        $dbh->disconnect;
        check($row->[0] == $plain_row->[0], "$db: customer_segments gave $row->[0] rows, the join $plain_row->[0]");
        push @{$s{api_first}}, $first;
        push @{$s{api_second}}, $second;
        push @{$s{api_plain_first}}, $plain;
    }
    my $dbh = connect_db($db);
    my ($segment) = $dbh->selectrow_array(q{SELECT id FROM segmentation.segments WHERE name = 'Mid Value'});
    my @runs = (
        [api_sizes => 'SELECT count(*) FROM segmentation.segment_sizes()'],
        [api_members => "SELECT count(*) FROM segmentation.segment_members($segment, " . $customer->(0) . ', 100)'],
        [api_explain => 'SELECT segmentation.explain_match(' . $customer->(0) . ", $segment)"],
        [api_preview => q{SELECT matching FROM segmentation.preview('{"minLifetimeValue": 1000, "minOrders": 5}')}],
        [api_preview_change => qq{SELECT entering + leaving FROM segmentation.preview_change($segment, '{"minLifetimeValue": 600}')}],
    );
    for my $rep (0 .. $opt{reps}) {    # rep 0 warms up
        for my $q (@runs) {
            my ($t) = timed($dbh, $q->[1]);
            push @{$s{$q->[0]}}, $t if $rep;
        }
    }
    $dbh->disconnect;
    record($size, $key, $_, $s{$_}) for sort keys %s;
}

# 8. The recalculate button of the old service: assign_automatic_segments()
# against the baseline's assign() (aggregate the customer's orders, evaluate
# every automatic segment, write the difference; baseline.sql), and a bare
# SELECT 1 for the round trip. pgbench, one client, prepared, random
# customers (usually nothing to change, as a press of the button finds),
# runs interleaved. The figure is the latency beyond the round trip.
sub measure_recalculate {
    my ($size, $key) = @_;
    my $db = dbname($size, $key);
    my %call = (recalc_round_trip => 'SELECT 1',
                recalc_ext => 'SELECT * FROM segmentation.assign_automatic_segments(' . $KEY{$key}{of}->(':cid') . ')',
                recalc_base => 'SELECT * FROM baseline.assign(' . $KEY{$key}{of}->(':cid') . ')');
    my %samples;
    for my $rep (1 .. $opt{reps}) {
        for my $id (qw(recalc_round_trip recalc_ext recalc_base)) {
            progress("$db: the recalculate button, $id ($rep/$opt{reps})");
            my $out = pgbench($db, $id, "\\set cid random(1, $size)\n$call{$id};\n", '-c', 1, '-j', 1,
                              '-T', $opt{seconds});
            push @{$samples{$id}}, latency_of($out);
        }
    }
    record($size, $key, $_, $samples{$_}) for sort keys %samples;
}

# 5. Peak memory of the backend running refresh_all, with 50 automatic
# segments. A second process polls /proc/<pid>/status while it runs.
sub read_status {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/status" or return undef;
    my %v;
    while (<$fh>) { $v{$1} = $2 if /^(VmHWM|VmRSS|RssAnon|RssShmem):\s+(\d+) kB/ }
    return \%v;
}

sub memory_of {
    my ($db, $sql, @before) = @_;
    my $dbh = connect_db($db);
    my ($pid) = $dbh->selectrow_array('SELECT pg_backend_pid()');
    my $cmdline = '';
    if (open my $fh, '<', "/proc/$pid/cmdline") { local $/; $cmdline = <$fh> // '' }
    unless ($cmdline =~ /postgres/) {
        $dbh->disconnect;
        return undef;    # the server is not on this machine
    }
    $dbh->begin_work;
    $dbh->do($_) for @before;
    # Resets VmHWM to the current RSS (root may; otherwise it is since start).
    if (open my $fh, '>', "/proc/$pid/clear_refs") { print $fh "5\n"; close $fh }
    my $start = read_status($pid);
    pipe(my $reader, my $writer) or die "pipe: $!\n";
    my $poller = fork // die "fork: $!\n";
    if ($poller == 0) {
        close $reader;
        my ($anon, $rss, $stop) = (0, 0, 0);
        local $SIG{TERM} = sub { $stop = 1 };
        while (!$stop) {
            my $s = read_status($pid) or last;
            $anon = $s->{RssAnon} if $s->{RssAnon} > $anon;
            $rss = $s->{VmRSS} if $s->{VmRSS} > $rss;
            sleep 0.005;
        }
        print $writer "$anon $rss\n";
        close $writer;
        POSIX::_exit(0);
    }
    close $writer;
    my ($ms) = timed($dbh, $sql);
    kill 'TERM', $poller;
    my ($anon, $rss) = split ' ', scalar <$reader>;
    waitpid $poller, 0;
    my $end = read_status($pid);
    $dbh->rollback;
    $dbh->disconnect;
    return {ms => $ms, anon_start => $start->{RssAnon}, anon_peak => $anon, rss_peak => $rss, hwm => $end->{VmHWM}};
}

sub measure_memory {
    my ($size, $key) = @_;
    my $db = dbname($size, $key);
    progress("$db: 30 more automatic segments (53 in all), memory of refresh_all");
    my $dbh = connect_db($db);
    $dbh->do(q{INSERT INTO segmentation.segments (name, criteria, is_automatic)
               SELECT 'Extra ' || k,
                      jsonb_build_object('minLifetimeValue', 40 * k, 'maxDaysSinceLastPurchase', 12 * k)
                      || CASE k % 3 WHEN 0 THEN jsonb_build_object('loyaltyLevels', jsonb_build_array('SILVER', 'GOLD'))
                                    WHEN 1 THEN jsonb_build_object('minTenureDays', 10 * k)
                                    ELSE jsonb_build_object('maxPurchaseFrequency', k / 10.0) END,
                      true
               FROM generate_series(1, 30) k});
    $dbh->do('SELECT baseline.sync_from_extension()');
    $dbh->do('VACUUM ANALYZE segmentation.segments, segmentation.assignments, baseline.segments, baseline.assignments');
    $dbh->disconnect;
    verify($size, $key, 'verify_50', 'creating 30 more segments');
    my @stale = (q{SELECT segmentation.set_live_evaluation('shop.orders', false)},
                 'INSERT INTO shop.orders (customer_id, amount, ordered_at) SELECT id, 1200, now() FROM (' . sample(1, 99) . ') s');
    my %runs = (mem_refresh_all_0 => [q{SELECT * FROM segmentation.refresh_all()}],
                mem_refresh_all_1 => [q{SELECT * FROM segmentation.refresh_all()}, @stale],
                mem_base_refresh_0 => [q{SELECT * FROM baseline.refresh()}]);
    for my $id (sort keys %runs) {
        my ($sql, @before) = @{$runs{$id}};
        my $m = memory_of($db, $sql, @before);
        if (!$m) {
            record($size, $key, $id, [], info => 'backend not on this machine');
            next;
        }
        record($size, $key, $id, [$m->{ms}], %$m,
               info => sprintf('private_growth_kB=%d private_peak_kB=%d rss_peak_kB=%d VmHWM_kB=%d',
                               $m->{anon_peak} - $m->{anon_start}, $m->{anon_peak}, $m->{rss_peak}, $m->{hwm}));
    }
}

###########################################################################
# The report
###########################################################################

sub commas { my $n = reverse sprintf('%.0f', shift); $n =~ s/(\d{3})(?=\d)/$1,/g; scalar reverse $n }
sub fmt_ms {
    my ($ms) = @_;
    return 'n/a' unless defined $ms;
    return sprintf('%.2f ms', $ms) if $ms < 10;
    return sprintf('%.1f ms', $ms) if $ms < 100;
    return commas($ms) . ' ms';
}
sub fmt_us {
    my ($us) = @_;
    return '' unless defined $us;
    return sprintf('%.3f µs', $us) if $us < 1;
    return sprintf('%.2f µs', $us) if $us < 10;
    return sprintf('%.1f µs', $us) if $us < 100;
    return commas($us) . ' µs';
}
sub fmt_x { defined $_[0] && $_[1] ? sprintf('%.2f×', $_[0] / $_[1]) : 'n/a' }
sub fmt_mb { defined $_[0] ? sprintf('%.1f MB', $_[0] / 1024) : 'n/a' }

open my $REPORT, '>', $report_file or die "$report_file: $!\n";
$REPORT->autoflush(1);
STDOUT->autoflush(1);
sub out { print $REPORT @_, "\n"; print @_, "\n" }
sub row { out(sprintf '  %-52s %14s %13s   %s', @_) }

sub target { my ($ok, $text) = @_; "target $text: " . ($ok ? 'met' : 'NOT met') }

sub report_edits {
    my ($r) = @_;
    out('segment edits while one writer inserts orders (worst insert latency overlapping the edit)');
    for ([plain_create => 'create_segment()'], [plain_update => 'UPDATE segments SET criteria'],
         [plain_delete => 'DELETE FROM segments'], [online_create => 'CALL create_segment_concurrently()'],
         [online_update => 'CALL update_segment_concurrently()'], [online_delete => 'CALL delete_segment_concurrently()']) {
        my $e = $r->{"edit_$_->[0]"} or next;
        row($_->[1], fmt_ms($e->{ms}), '',
            sprintf('stall %s (before: %s), %d inserts meanwhile, %d notifications; %s', fmt_ms($e->{stall}),
                    fmt_ms($e->{before}), $e->{inserts}, $e->{notifications},
                    target($e->{stall} <= 100, 'stall <= 100 ms')));
    }
    row('segmentation.verify() after the edits', fmt_ms($r->{verify_edits}{ms}), '', $r->{verify_edits}{info});
}

sub report_windows {
    my ($r, $n) = @_;
    my $ms = sub { $r->{$_[0]}{ms} };
    my $w = $r->{windows_refresh_all} or return;
    out(sprintf 'time windows: 3 more automatic segments on orders in the last 30, 90 and 7.5 days (%s members)',
        commas($w->{members}));
    row('create them (populated; one INSERT)', fmt_ms($ms->('windows_create')), fmt_us(1000 * $ms->('windows_create') / $n), '');
    row('refresh_all(), the windows among the segments', fmt_ms($w->{ms}), fmt_us(1000 * $w->{ms} / $n),
        $r->{refresh_all_0} ? fmt_x($w->{ms}, $ms->('refresh_all_0')) . ' refresh_all() without windows' : '');
    row('the windows alone in SQL (GROUP BY over 90 days)', fmt_ms($ms->('windows_sql')),
        fmt_us(1000 * $ms->('windows_sql') / $n), 'same members at one instant (checked)');
    my $pairs = $r->{windows_match_ext}{pairs};
    row("segment_match(customer id), 1% sample × 3", fmt_ms($ms->('windows_match_ext')), '',
        sprintf('%s per pair; SQL on the sample %s', fmt_us(1000 * $ms->('windows_match_ext') / $pairs),
                fmt_ms($ms->('windows_match_sql'))));
    my ($plain, $tps) = ($ms->('tps_windows_plain'), $ms->('tps_windows'));
    row('order inserts, windows in use', commas($tps) . ' tps', '',
        sprintf('%.2f of untracked (%s tps) in the same runs', $tps / $plain, commas($plain))
        . ($r->{tps_tracked} ? sprintf('; %.2f of tracked without windows', $tps / $ms->('tps_tracked')) : ''));
    row('segmentation.verify() after them', fmt_ms($ms->('verify_windows')), '', $r->{verify_windows}{info});
}

sub report_api {
    my ($r) = @_;
    my $ms = sub { $r->{$_[0]}{ms} };
    return unless $r->{api_first};
    out('the admin API (customer_segments: median of 5 fresh backends)');
    row('customer_segments(), first call of a backend', fmt_ms($ms->('api_first')), '',
        sprintf('second call %s; a plain join as first query %s', fmt_ms($ms->('api_second')),
                fmt_ms($ms->('api_plain_first'))));
    row('segment_sizes()', fmt_ms($ms->('api_sizes')), '', 'every segment\'s members counted');
    row('segment_members(), a page of 100 from the middle', fmt_ms($ms->('api_members')), '', '');
    row('explain_match(customer, segment)', fmt_ms($ms->('api_explain')), '', '');
    row('preview(criteria)', fmt_ms($ms->('api_preview')), '', '');
    row('preview_change(segment, criteria)', fmt_ms($ms->('api_preview_change')), '', '');
}

sub report_recalculate {
    my ($r) = @_;
    my $ms = sub { $r->{$_[0]}{ms} };
    return unless $r->{recalc_ext};
    my ($trip, $ext, $base) = map { $ms->($_) } qw(recalc_round_trip recalc_ext recalc_base);
    out('the recalculate button: one call per transaction, one client (latency beyond a SELECT 1 round trip)');
    row('assign_automatic_segments(customer)', sprintf('%.3f ms', $ext - $trip), '', sprintf('round trip %.3f ms', $trip));
    row('baseline.assign(customer) (PL/pgSQL: aggregate, evaluate, write)', sprintf('%.3f ms', $base - $trip), '',
        sprintf('%.1f× assign_automatic_segments; %s', ($base - $trip) / ($ext - $trip),
                target($base - $trip >= 10 * ($ext - $trip), '>= 10×')));
}

sub report_size {
    my ($size, $key) = @_;
    my $r = $R{$size}{$key};
    my $f = $r->{facts};
    my $n = $f->{customers};
    my $ms = sub { $r->{$_[0]}{ms} };
    my $per = sub { defined $ms->($_[0]) ? 1000 * $ms->($_[0]) / $n : undef };
    out('');
    out(sprintf '== %s customers, %s keys: %s orders, %d automatic segments, %s assignments ==',
        commas($n), $key, commas($f->{orders}), $f->{segments}, commas($f->{members}));
    out(sprintf '  %-52s %14s %13s   %s', 'measurement (median of ' . $opt{reps} . ')', 'time', 'per customer', 'compared');
    return report_edits($r) if $opt{only} eq 'edits';
    return (report_windows($r, $n), report_api($r), report_recalculate($r)) if $opt{only} eq 'windows';

    out("set-up (once)");
    row('generate the shop (scripts/generate_shop.sql)', fmt_ms($ms->('generate')), '', '') if $r->{generate};
    row('track_customers()', fmt_ms($ms->('track_customers')), fmt_us($per->('track_customers')), '');
    row('track_customer_attributes() (2 columns)', fmt_ms($ms->('track_customer_attributes')),
        fmt_us($per->('track_customer_attributes')), '') if $r->{track_customer_attributes};
    row('track_orders()', fmt_ms($ms->('track_orders')), fmt_us($per->('track_orders')), '');
    row("create $f->{segments} automatic segments + VIP (populated)", fmt_ms($ms->('create_segments')), fmt_us($per->('create_segments')), '');
    row('baseline: populate the same segments', fmt_ms($ms->('baseline_populate')), fmt_us($per->('baseline_populate')),
        fmt_x($ms->('baseline_populate'), $ms->('create_segments')) . ' extension');

    # The insert runs for each customer distribution, each against the
    # untracked table and the floor of the same distribution; the issue's
    # targets on each, the returning customers' labelled so.
    my $p = $r->{returning_pool};
    for my $d (['', 'random customers'],
               ['_ret', $p && sprintf('returning customers (a pool of %s, ids %d, %d, ..., who ordered today)',
                                      commas($p->{pool}), $p->{step}, 2 * $p->{step})]) {
        my ($sfx, $who) = @$d;
        my $tps = sub { my $x = $r->{"$_[0]$sfx"}; $x && $x->{ms} };
        my ($plain, $floor, $tracked, $metrics) = map { $tps->($_) } qw(tps_plain tps_counter tps_tracked tps_metrics);
        next unless $plain;
        my $label = $sfx ? ' (returning customers)' : '';
        out(sprintf 'order inserts: pgbench -c %d -j %d, %d s per run, %s', $opt{clients}, $opt{threads},
            $opt{seconds}, $who);
        row('no tracking (untracked copy of the orders)', commas($plain) . ' tps', '', '');
        row('floor: PL/pgSQL counter trigger (count, sum, max)', commas($floor) . ' tps', '',
            sprintf('%.2f of untracked', $floor / $plain));
        row('tracked by the extension', commas($tracked) . ' tps', '',
            sprintf('%.2f of untracked, %.2f of the floor; %s', $tracked / $plain, $tracked / $floor,
                    target($tracked >= $floor, ">= floor$label")));
        row('tracked, live evaluation off (metrics only)', commas($metrics) . ' tps', '',
            sprintf('%.2f of untracked, %.2f of the floor; %s', $metrics / $plain, $metrics / $floor,
                    target($metrics >= 0.8 * $plain, ">= 0.8 of untracked$label")));
        if (my $quiet = $tps->('tps_quiet')) {
            row('tracked, notifications off (segmentation.notify)', commas($quiet) . ' tps', '',
                sprintf('%.2f of untracked', $quiet / $plain));
        }
        if (my $base = $tps->('tps_baseline')) {
            row('baseline: PL/pgSQL row trigger calling assign()', commas($base) . ' tps', '',
                sprintf('%.2f of untracked; tracked/baseline %.2f', $base / $plain, $tracked / $base));
        }
        if (my $c = $r->{"changes_per_order$sfx"}) {
            my $random = $sfx && $r->{changes_per_order};
            row('membership changes per order (tracked, live)', sprintf('%.2f', $c->{ms}), '',
                sprintf('%s assignment_log rows added/removed, %s orders%s', commas($c->{logged}),
                        commas($c->{orders}), $random ? sprintf('; random customers %.2f', $random->{ms}) : ''));
        }
    }

    if ($r->{history_ext_short}) {
        my $h = $r->{history_ext_long}{history};
        out("one order (one per transaction) for a customer with 1 and with " . commas($h) . " orders");
        for my $side (['ext', 'tracked by the extension'], ['base', 'baseline trigger']) {
            my ($short, $long) = map { $ms->("history_$side->[0]_$_") } qw(short long);
            row("$side->[1], latency per order", sprintf('%.3f ms', $short), sprintf('%.3f ms', $long),
                sprintf('%s orders / 1 order: %s', commas($h), fmt_x($long, $short)));
        }
    }
    return report_recalculate($r) if $opt{only} eq 'inserts';
    report_edits($r);
    report_windows($r, $n);
    report_api($r);
    report_recalculate($r);
    out('refresh, nothing to change');
    row('bare GROUP BY customer over the orders', fmt_ms($ms->('groupby')), fmt_us($per->('groupby')), '');
    for my $suffix (0, 1) {
        out('refresh after 1% of customers changed (' . commas($r->{refresh_all_1}{changed})
            . ' new orders, live evaluation off)') if $suffix;
        my ($ext, $base) = ($ms->("refresh_all_$suffix"), $ms->("base_refresh_$suffix"));
        row('refresh_all()', fmt_ms($ext), fmt_us($per->("refresh_all_$suffix")),
            fmt_x($ext, $ms->('groupby')) . ' GROUP BY; ' . target($ext <= 3 * $ms->('groupby'), '<= 3×'));
        row('baseline.refresh() (set-based SQL)', fmt_ms($base), fmt_us($per->("base_refresh_$suffix")),
            fmt_x($base, $ext) . ' refresh_all; ' . target($base >= 10 * $ext, '>= 10×'));
    }

    out('refresh_due(): customers due (reevaluate_at = -infinity)');
    for my $p (0, 0.1, 1) {
        my $d = $r->{"due_$p"};
        my $due = $d->{due} || 0;
        row(sprintf('%s%% due (%s customers)', $p, commas($due)), fmt_ms($d->{ms}), '',
            $due ? fmt_us(1000 * $d->{ms} / $due) . ' per due customer' : 'fixed cost');
    }

    out(sprintf 'matching: count(*) over customer_metrics × %d automatic segments', $f->{segments});
    my $pairs = $n * $f->{segments};
    row('segment_match(m, s.criteria)', fmt_ms($ms->('match_ext')), fmt_us($per->('match_ext')),
        sprintf('%.3f µs per pair', 1000 * $ms->('match_ext') / $pairs));
    my $match_target = sub {
        my ($base) = @_;
        return 'n/a' unless $ms->($base) && $ms->('match_ext');
        fmt_x($ms->($base), $ms->('match_ext')) . ' segment_match; '
            . target($ms->($base) >= 5 * $ms->('match_ext'), '>= 5×');
    };
    row('baseline.matches(m, s.criteria): jsonb SQL', fmt_ms($ms->('match_base')), fmt_us($per->('match_base')),
        $match_target->('match_base'));
    row('  the same in one process (no parallel workers)', fmt_ms($ms->('match_base_serial')),
        fmt_us($per->('match_base_serial')), $match_target->('match_base_serial'));
    row('bare cross join', fmt_ms($ms->('match_cross')), fmt_us($per->('match_cross')), 'reference');
    out('matching: one constant criteria over customer_metrics');
    row('segment_match(m, High Value)', fmt_ms($ms->('hv_ext')), fmt_us($per->('hv_ext')), '');
    row('hand-written WHERE for High Value', fmt_ms($ms->('hv_sql')), fmt_us($per->('hv_sql')),
        'segment_match takes ' . fmt_x($ms->('hv_ext'), $ms->('hv_sql')) . ' the WHERE');
    row('segment_match(m, At Risk)', fmt_ms($ms->('ar_ext')), fmt_us($per->('ar_ext')), '');
    row('hand-written WHERE for At Risk', fmt_ms($ms->('ar_sql')), fmt_us($per->('ar_sql')),
        'segment_match takes ' . fmt_x($ms->('ar_ext'), $ms->('ar_sql')) . ' the WHERE');

    out(sprintf 'memory of the backend, %d automatic segments (fresh backend each)', $f->{segments} + 30);
    for ([mem_refresh_all_0 => 'refresh_all(), nothing to change'], [mem_refresh_all_1 => 'refresh_all(), 1% changed'],
         [mem_base_refresh_0 => 'baseline.refresh(), reference']) {
        my $m = $r->{$_->[0]};
        if (!defined $m->{hwm}) { row($_->[1], 'n/a', '', $m->{info}); next }
        row($_->[1], fmt_ms($m->{ms}), '',
            sprintf('private memory +%s (peak %s); peak RSS %s incl. shared buffers',
                    fmt_mb($m->{anon_peak} - $m->{anon_start}), fmt_mb($m->{anon_peak}), fmt_mb($m->{hwm})));
    }
    row('segmentation.verify() after the inserts', fmt_ms($ms->('verify')), fmt_us($per->('verify')),
        $r->{verify}{info});
    row('segmentation.verify() after 30 more segments', fmt_ms($ms->('verify_50')), fmt_us($per->('verify_50')),
        $r->{verify_50}{info});
}

sub report_summary {
    my @sizes = grep { $R{$_} } @SIZES;
    if (grep { $_ ne 'bigint' } @KEYS) {
        out('');
        out('== customer keys: text and uuid against bigint (the same shop) ==');
        out(sprintf '  %-12s %-7s %12s %12s %10s %14s %14s %14s', 'customers', 'key', 'untracked', 'tracked',
            'trk/untrk', 'refresh_all', 'refresh_all 1%', 'vs bigint');
        for my $size (@sizes) {
            my $b = $R{$size}{bigint};
            for my $key (@KEYS) {
                my $r = $R{$size}{$key} or next;
                out(sprintf '  %-12s %-7s %8s tps %8s tps %10.2f %14s %14s %14s', commas($size), $key,
                    commas($r->{tps_plain}{ms}), commas($r->{tps_tracked}{ms}),
                    $r->{tps_tracked}{ms} / $r->{tps_plain}{ms}, fmt_ms($r->{refresh_all_0}{ms}),
                    fmt_ms($r->{refresh_all_1}{ms}),
                    $b && $b->{tps_tracked} ? sprintf('tps %.2f, %s', $r->{tps_tracked}{ms} / $b->{tps_tracked}{ms},
                                 fmt_x($r->{refresh_all_0}{ms}, $b->{refresh_all_0}{ms})) : '');
            }
        }
    }
    return unless @sizes > 1;
    my $key = $KEYS[0];
    out('');
    out("== growth with the number of customers ($key keys): time per customer ==");
    out(sprintf '  %-44s' . (' %14s' x @sizes) . ' %10s', 'measurement', (map { commas($_) } @sizes),
        'last/first');
    my @lines = (
        [groupby => 'bare GROUP BY over the orders'], [refresh_all_0 => 'refresh_all(), nothing to change'],
        [base_refresh_0 => 'baseline.refresh(), nothing to change'], [refresh_all_1 => 'refresh_all(), 1% changed'],
        [base_refresh_1 => 'baseline.refresh(), 1% changed'], [match_ext => 'segment_match × the segments'],
        [match_base => 'baseline.matches × the segments'], [hv_ext => 'segment_match, High Value'],
        [hv_sql => 'hand-written WHERE, High Value'], [track_orders => 'track_orders()'],
        [create_segments => 'create the segments'], [verify => 'verify()'],
    );
    for my $l (@lines) {
        my @v = map { my $r = $R{$_}{$key}; $r && $r->{$l->[0]} ? 1000 * $r->{$l->[0]}{ms} / $r->{facts}{customers} : undef } @sizes;
        out(sprintf '  %-44s' . (' %14s' x @sizes) . ' %10s', $l->[1], (map { fmt_us($_) } @v),
            defined $v[0] && defined $v[-1] ? fmt_x($v[-1], $v[0]) : '');
    }
    my @due = map { my $d = $R{$_}{$key}{due_1}; $d && $d->{due} ? 1000 * $d->{ms} / $d->{due} : undef } @sizes;
    out(sprintf '  %-44s' . (' %14s' x @sizes) . ' %10s', 'refresh_due(), 1% due: per due customer',
        (map { fmt_us($_) } @due), defined $due[0] && defined $due[-1] ? fmt_x($due[-1], $due[0]) : '');
    for my $t ([tps_plain => 'inserts, no tracking (tps)'], [tps_tracked => 'inserts, tracked (tps)'],
               [tps_baseline => 'inserts, baseline trigger (tps)'],
               [tps_tracked_ret => 'inserts, tracked, returning customers (tps)']) {
        my @v = map { $R{$_}{$key}{$t->[0]}{ms} } @sizes;
        out(sprintf '  %-44s' . (' %14s' x @sizes) . ' %10s', $t->[1], (map { defined $_ ? commas($_) : '' } @v),
            defined $v[0] && defined $v[-1] ? fmt_x($v[-1], $v[0]) : '');
    }
    my @mem = map { my $m = $R{$_}{$key}{mem_refresh_all_1}; $m && defined $m->{hwm} ? $m->{anon_peak} - $m->{anon_start} : undef } @sizes;
    out(sprintf '  %-44s' . (' %14s' x @sizes), 'refresh_all() 1% changed, private memory', map { fmt_mb($_) } @mem);
}

###########################################################################
# Main
###########################################################################

my $dbh = connect_db('postgres');
my ($version) = $dbh->selectrow_array('SELECT version()');
my $settings = join ', ', map { my ($v) = $dbh->selectrow_array("SHOW $_"); "$_=$v" }
    qw(shared_buffers work_mem synchronous_commit fsync jit max_parallel_workers_per_gather);
my ($available) = $dbh->selectrow_array(q{SELECT default_version FROM pg_available_extensions WHERE name = 'segmentation'});
die "the segmentation extension is not installed in this server (run make install, or make demo)\n" unless $available;
my ($libdir) = $dbh->selectrow_array(q{SELECT setting FROM pg_config WHERE name = 'PKGLIBDIR'});
# Debian's extension_destdir (a build tested without installing it): the
# server loads the library from under it when it is there.
my ($destdir) = $dbh->selectrow_array(q{SELECT coalesce(current_setting('extension_destdir', true), '')});
$dbh->disconnect;
progress("server: $version");

# Which build of the extension is measured: the installed library's time and
# checksum, checked again after every database (a reinstall mid-run mixes
# builds: the report says so).
sub build_of {
    my $so = "$libdir/segmentation.so";
    $so = "$destdir$so" if $destdir ne '' && -e "$destdir$so";
    open my $fh, '<', $so or return 'unknown (server not on this machine)';
    binmode $fh;
    my $md5 = Digest::MD5->new->addfile($fh)->hexdigest;
    return sprintf '%s, installed %s, md5 %s', $so, strftime('%Y-%m-%d %H:%M:%S', localtime((stat $so)[9])), substr($md5, 0, 12);
}
my $build = build_of();
sub check_build {
    my ($where) = @_;
    my $now = build_of();
    return if $now eq $build;
    check(0, "the extension was reinstalled during the run (before the end of $where): now $now; figures before and after come from different builds");
    $build = $now;
}
progress("settings for the benchmark's sessions: $settings");

my $cores = `nproc` =~ s/\s+//gr;
out("segmentation benchmark, " . strftime('%Y-%m-%d %H:%M', localtime) . ", sizes $opt{sizes}, keys $opt{keys}"
    . ($opt{smoke} ? ' (smoke mode: a check, not a measurement)' : ''));
out("server: $version");
out("sessions: $settings; PGOPTIONS=$ENV{PGOPTIONS}");
out("machine: $cores cores; each figure is the median of $opt{reps} run(s)");
out("extension: $build");

# A step that fails ends its database's measurements (the error is reported,
# the exit status is 2) and the run goes on with the next one, so that a long
# run keeps the figures it has.
my @failed_steps;
sub attempt {
    my ($what, $code) = @_;
    return 1 if eval { $code->(); 1 };
    my $error = $@ =~ s/\s+$//r;
    push @failed_steps, "$what: $error";
    progress("FAILED: $what: $error");
    return 0;
}

# A database of this size that a --keep run left tracked (for --reuse).
sub kept_tracked {
    my ($size) = @_;
    my $dbh = connect_db('postgres');
    my ($exists) = $dbh->selectrow_array('SELECT 1 FROM pg_catalog.pg_database WHERE datname = ?', undef,
                                         dbname($size, 'bigint'));
    $dbh->disconnect;
    return 0 unless $exists;
    $dbh = connect_db(dbname($size, 'bigint'));
    my ($tracked) = $dbh->selectrow_array(q{SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'segmentation'});
    $dbh->disconnect;
    return $tracked;
}

for my $size (@SIZES) {
    my $reused = $opt{reuse} && kept_tracked($size);
    progress("reusing the kept, tracked " . dbname($size, 'bigint')) if $reused;
    next unless $reused || attempt("generating $size customers", sub { generate($size) });
    for my $key (@KEYS) {
        my $db = dbname($size, $key);
        my $ok = attempt($db, sub {
            if ($opt{only} eq 'edits') {  # the segment edits under load alone, on a tracked shop
                $reused ? record_facts($size, $key) : set_up_tracking_only($size, $key);
                measure_edits($size, $key);
                return;
            }
            die "--only takes 'edits', 'windows' or 'inserts'\n"
                if $opt{only} && $opt{only} ne 'windows' && $opt{only} ne 'inserts';
            set_up($size, $key);
            if ($opt{only} eq 'inserts') {  # the order inserts (write path) and the recalculate button, after the set-up
                measure_inserts($size, $key);
                measure_recalculate($size, $key);
                return;
            }
            if ($opt{only} eq 'windows') {  # windows, the admin API and the recalculate button, after the set-up
                measure_windows($size, $key);
                measure_api($size, $key);
                measure_recalculate($size, $key);
                return;
            }
            my $dbh = connect_db($db);
            measure_match($size, $key, $dbh);
            measure_refresh($size, $key, $dbh);
            measure_due($size, $key, $dbh);
            $dbh->disconnect;
            measure_inserts($size, $key);
            measure_history($size, $key);
            measure_edits($size, $key);
            measure_windows($size, $key);
            measure_api($size, $key);
            measure_recalculate($size, $key);
            measure_memory($size, $key);
        });
        attempt("dropping $db", sub { drop_db($db) }) unless $opt{keep};
        check_build($db);
        if ($ok) {
            report_size($size, $key);
        } else {
            delete $R{$size}{$key};
            out('');
            out("== $db: FAILED, see the end of the report ==");
        }
    }
    attempt("dropping the shop of $size", sub { drop_db(dbname($size, 'bigint')) })
        unless $opt{keep} || grep { $_ eq 'bigint' } @KEYS;
}

report_summary() unless $opt{only};
out('');
out(sprintf 'total time: %.1f min', (time - $started) / 60);
if (@failed_steps) {
    out("STEPS FAILED:");
    out("  $_") for @failed_steps;
}
if (@failed_checks) {
    out("CHECKS FAILED:");
    out("  $_") for @failed_checks;
}
close $REPORT;
close $RAW;
progress("report: $report_file; raw figures: $raw_file");
exit(@failed_steps ? 2 : @failed_checks ? 3 : 0);
