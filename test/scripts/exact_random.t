#!/usr/bin/perl
# Randomized differential test of exactness: a seeded generator writes the SQL
# shops write (multi-row DML, ON CONFLICT, COPY, CTEs with several writes,
# savepoints, rollbacks, TRUNCATE, key changes through a cascading foreign key,
# a shop trigger creating customers, refreshes, criteria edits, manual
# assignments, live evaluation toggles) from two interleaved connections, and
# after every step segmentation.verify() must find no drift.
#   EXACT_RANDOM_SEED=n    replay a seed (printed at the start)
#   EXACT_RANDOM_STEPS=n   steps per shop variant
#   EXACT_RANDOM_DEBUG=1   print each deadlock with the statements that led to it
# Interleavings depend on lock timing, so a seed replays the same statements
# but not always the same waits.
#
# Time: data is dated 2025 or 2200 (or NULL), and every day bound is either at
# most 30 days or at least 36,500, so no customer's membership can change with
# the clock between the data's past and 2060. verify(now()), verify(2060) and
# refresh_due(2060) therefore agree whatever today's date (up to 2060).
use strict;
use warnings;
use DBI;
use DBD::Pg qw(:async);
use Time::HiRes qw(time usleep);
use Test::More;

my $seed = $ENV{EXACT_RANDOM_SEED} // (time() * 1000 % 1_000_000_007);
$seed = int($seed);
my $steps = $ENV{EXACT_RANDOM_STEPS} // 500;
diag("exact_random: seed $seed, $steps steps per variant (EXACT_RANDOM_SEED=$seed to replay)");

my $as_of = "'2060-01-01 00:00:00+00'";
my %options = (RaiseError => 1, AutoCommit => 1, PrintWarn => 0, PrintError => 0);
my $db = 'segmentation_exact_random';
my $admin = DBI->connect('dbi:Pg:dbname=postgres', undef, undef, \%options);

my @variants = (
    { name => 'bigint keys, shop trigger creating customers', key => 'bigint', time => 'timestamptz', since => 'timestamptz', shop_trigger => 1 },
    { name => 'bigint keys, FK ON UPDATE/DELETE CASCADE', key => 'bigint', time => 'timestamptz', since => 'timestamptz', fk => 1 },
    { name => 'text keys, timestamp orders, date customers', key => 'text', time => 'timestamp', since => 'date' },
);


# --- random values -----------------------------------------------------------

sub pick { return $_[int(rand(@_))] }
sub chance { return rand() < $_[0] }

my $current;    # the variant being run
my %outcomes;   # counts of legitimate errors by SQLSTATE
sub key {
    my $n = 1 + int(rand(24));
    return $current->{key} eq 'text' ? "'c$n'" : $n;
}
sub instant {
    my ($type) = @_;
    my $year = chance(0.15) ? 2200 : 2025;
    my $day = sprintf('%04d-%02d-%02d', $year, 1 + int(rand(10)), 1 + int(rand(28)));
    return "'$day'" if $type eq 'date';
    return sprintf("'%s %02d:%02d:%02d'", $day, int(rand(24)), int(rand(60)), int(rand(60)));
}
sub order_time { return chance(0.1) ? 'NULL' : instant($current->{time}) }
sub amount {
    return 'NULL' if chance(0.08);
    return sprintf('%d', int(rand(300))) if chance(0.3);
    return sprintf('%.2f', rand(600) - (chance(0.05) ? 700 : 0));
}
sub loyalty { return pick("'GOLD'", "'SILVER'", "'PLATINUM'", 'NULL', "'gold'") }
sub since { return chance(0.05) ? 'NULL' : instant($current->{since}) }
sub order_row { return '(' . join(', ', key(), amount(), order_time()) . ')' }
sub order_rows { return join(', ', map { order_row() } 1 .. (1 + int(rand($_[0] // 4)))) }
sub some_order_ids { return join(', ', map { 1 + int(rand(400)) } 1 .. (1 + int(rand(6)))) }

# Criteria whose day bounds are all <= 30 or >= 36,500 (see the top).
my @criteria = (
    '{"minLifetimeValue": 1000}',
    '{"minLifetimeValue": 250.5, "maxLifetimeValue": 900}',
    '{"minOrders": 3}',
    '{"maxOrders": 1}',
    '{"minAverageOrderValue": 150}',
    '{"maxDaysSinceLastPurchase": 36500}',
    '{"minDaysSinceLastPurchase": 1, "minOrders": 2}',
    '{"loyaltyLevels": ["GOLD", "PLATINUM"]}',
    '{"maxTenureDays": 36500, "minOrders": 1}',
    '{"not": {"minTenureDays": 1}}',
    '{"any": [{"minLifetimeValue": 500}, {"loyaltyLevels": ["SILVER"]}], "not": {"maxOrders": 0}}',
    '{"all": [{"minDaysSinceLastPurchase": 30}, {"not": {"loyaltyLevels": ["gold"]}}]}',
    '{}',
);

# --- statements --------------------------------------------------------------
# A statement is an SQL string, or [copy => $sql, @lines] (only when alone).

my %segment;    # name -> id
sub statement {
    my ($alone) = @_;
    my $k = key();
    my @choices = (
        [10, sub { "INSERT INTO orders (customer_id, amount, ordered_at) VALUES " . order_rows() }],
        [4, sub { "UPDATE orders SET amount = " . amount() . " WHERE id IN (" . some_order_ids() . ")" }],
        [3, sub { "UPDATE orders SET amount = amount + 1, ordered_at = " . order_time() . " WHERE customer_id = $k" }],
        [3, sub { "UPDATE orders SET customer_id = " . key() . " WHERE customer_id = $k AND id % 2 = " . int(rand(2)) }],
        [2, sub { "UPDATE orders SET customer_id = CASE WHEN id % 3 = 0 THEN " . key() . " ELSE customer_id END, amount = NULL WHERE id IN (" . some_order_ids() . ")" }],
        [1, sub { "UPDATE orders SET ordered_at = NULL, customer_id = NULL WHERE id IN (" . some_order_ids() . ")" }],
        [3, sub { "DELETE FROM orders WHERE id IN (" . some_order_ids() . ")" }],
        [2, sub { "DELETE FROM orders WHERE customer_id = $k" }],
        [3, sub {
            my %ids = map { 1 + int(rand(400)) => 1 } 1 .. 1 + int(rand(3));
            my $rows = join(', ', map { '(' . join(', ', $_, key(), amount(), order_time()) . ')' } sort keys %ids);
            "INSERT INTO orders (id, customer_id, amount, ordered_at) OVERRIDING SYSTEM VALUE VALUES $rows "
            . "ON CONFLICT (id) DO UPDATE SET amount = excluded.amount, customer_id = excluded.customer_id"
            . (chance(0.5) ? ", ordered_at = excluded.ordered_at" : '') }],
        [2, sub { "WITH d AS (DELETE FROM orders WHERE customer_id = $k RETURNING amount, ordered_at) "
                  . "INSERT INTO orders (customer_id, amount, ordered_at) SELECT " . key() . ", amount, ordered_at FROM d" }],
        [2, sub { "WITH u AS (UPDATE orders SET amount = " . amount() . " WHERE customer_id = $k RETURNING id) "
                  . "INSERT INTO orders (customer_id, amount, ordered_at) SELECT $k, count(*), " . order_time() . " FROM u" }],
        [2, sub { "WITH c AS (INSERT INTO customers (id, created_at, loyalty) VALUES ($k, " . since() . ", " . loyalty() . ") "
                  . "ON CONFLICT (id) DO UPDATE SET loyalty = excluded.loyalty RETURNING id) "
                  . "INSERT INTO orders (customer_id, amount, ordered_at) SELECT id, " . amount() . ", " . order_time() . " FROM c" }],
        [4, sub { "INSERT INTO customers (id, created_at, loyalty) VALUES "
                  . join(', ', map { '(' . join(', ', key(), since(), loyalty()) . ')' } 1 .. 1 + int(rand(3)))
                  . " ON CONFLICT (id) DO NOTHING" }],
        [2, sub { "DELETE FROM customers WHERE id = $k" }],
        [3, sub { "UPDATE customers SET loyalty = " . loyalty() . " WHERE id IN ($k, " . key() . ")" }],
        [2, sub { "UPDATE customers SET created_at = " . since() . " WHERE id = $k" }],
        [2, sub { my $new = key(); "UPDATE customers SET id = $new WHERE id = $k AND NOT EXISTS (SELECT FROM customers WHERE id = $new)" }],
        [1, sub { "SELECT segmentation.assign_manual_segment(id, $segment{VIP}) FROM customers WHERE id = $k" }],
        [1, sub { "SELECT segmentation.remove_manual_segment(customer_id, $segment{VIP}, 'random') FROM segmentation.assignments "
                  . "WHERE segment_id = $segment{VIP} AND customer_id = $k" }],
    );
    push @choices, [3, sub { [copy => 'COPY orders (customer_id, amount, ordered_at) FROM STDIN',
                       map { my ($c, $a, $t) = (key(), amount(), order_time());
                             join("\t", map { my $v = $_; $v eq 'NULL' ? '\N' : ($v =~ s/^'|'$//gr) } $c, $a, $t) . "\n" } 1 .. 1 + int(rand(5))] }]
        if $alone;
    push @choices,
            [0.3, sub { 'TRUNCATE orders' }],
            [0.3, sub { $current->{fk} ? 'TRUNCATE customers CASCADE' : 'TRUNCATE customers' }],
            [1, sub { 'SELECT * FROM segmentation.refresh_all()' }],
            [2, sub { "SELECT * FROM segmentation.refresh_due($as_of)" }],
            [2, sub { my $name = pick(grep { $_ ne 'VIP' } sort keys %segment);
                      "UPDATE segmentation.segments SET criteria = '" . pick(@criteria) . "' WHERE id = $segment{$name}" }],
            [1, sub { "SELECT segmentation.set_live_evaluation('" . pick('orders', 'customers') . "', " . pick('true', 'false') . ")" }],
            [1, sub { 'UPDATE customers SET id = ' . ($current->{key} eq 'text' ? "id || '0'" : 'id + 1') . " WHERE id IN ($k, " . key() . ')' }];
    my $total = 0;
    $total += $_->[0] for @choices;
    my $r = rand($total);
    for my $c (@choices) {
        return $c->[1]->() if ($r -= $c->[0]) < 0;
    }
    return $choices[-1][1]->();
}

# A transaction: BEGIN, statements (some inside a savepoint), COMMIT or ROLLBACK.
sub transaction {
    my ($alone) = @_;
    my @sql = ('BEGIN');
    # With the foreign key, most transactions first make sure of some customers.
    push @sql, 'INSERT INTO customers (id, created_at, loyalty) VALUES '
        . join(', ', map { '(' . join(', ', key(), since(), loyalty()) . ')' } 1 .. 6) . ' ON CONFLICT (id) DO NOTHING'
        if $current->{fk} && chance(0.7);
    my $count = 1 + int(rand(4));
    for my $i (1 .. $count) {
        if (chance(0.15)) {
            push @sql, 'SAVEPOINT s', (map { statement($alone) } 1 .. 1 + int(rand(2))),
                       chance(0.6) ? 'ROLLBACK TO SAVEPOINT s' : 'RELEASE SAVEPOINT s';
        } else {
            push @sql, statement($alone);
        }
    }
    push @sql, chance(0.1) ? 'ROLLBACK' : 'COMMIT';
    return \@sql;
}

# --- running -----------------------------------------------------------------

# Errors that concurrent or random SQL legitimately meets; the transaction is
# rolled back. Anything else is a bug.
my %legitimate = (
    '40P01' => 'deadlock', '40001' => 'serialization failure',
    '23505' => 'unique violation',       # a key change racing an insert
    '23503' => 'foreign key violation',  # an order for a missing customer (FK variant)
);

sub show { return ref $_[0] ? join("\n    ", $_[0][1], map { s/\n$//r } @{$_[0]}[2 .. $#{$_[0]}]) . "\n    \\." : $_[0] }

# Runs transactions on connections concurrently: each connection sends its
# next statement when its previous one has finished; a statement waiting for a
# lock does not stop the other connection. Returns the log of what happened.
sub run_interleaved {
    my ($conns, $txns, $log) = @_;
    my @state = map { { conn => $conns->[$_], queue => [@{$txns->[$_]}], busy => undef, name => "conn$_", concurrent => @$txns > 1 } } 0 .. $#$txns;
    my $deadline = time + 60;
    while (1) {
        for my $s (@state) {
            next unless $s->{busy} && $s->{conn}->pg_ready;
            my $sql = $s->{busy};
            $s->{busy} = undef;
            my $ok = eval { $s->{conn}->pg_result; 1 };
            finish_statement($s, $sql, $ok, $log);
        }
        my @ready = grep { !$_->{busy} && @{$_->{queue}} } @state;
        last if !@ready && !grep { $_->{busy} } @state;
        if (@ready) {
            my $s = pick(@ready);
            my $sql = shift @{$s->{queue}};
            if (ref $sql) {
                my $ok = eval {
                    $s->{conn}->do($sql->[1]);
                    $s->{conn}->pg_putcopydata($_) for @{$sql}[2 .. $#$sql];
                    $s->{conn}->pg_putcopyend;
                    1;
                };
                finish_statement($s, $sql, $ok, $log);
            } else {
                $s->{conn}->do($sql, { pg_async => PG_ASYNC });
                $s->{busy} = $sql;
            }
        } else {
            usleep(500);
        }
        die "interleaving stuck\n" if time > $deadline;
    }
}

sub finish_statement {
    my ($s, $sql, $ok, $log) = @_;
    push @$log, "$s->{name}: " . show($sql);
    return if $ok;
    my $state = $s->{conn}->state;
    my $message = $s->{conn}->errstr // '';
    push @$log, "$s->{name}:   ERROR $state: $message";
    # A manual assignment or removal whose customer another transaction deleted (or
    # rekeyed) between the statement's snapshot and its lock.
    my $raced_assignment = $state eq '42704' && $s->{concurrent} && !ref $sql && $sql =~ /(assign|remove)_manual_segment/;
    if ($raced_assignment) {
        $outcomes{'42704 manual assignment of a customer deleted concurrently'}++;
    } elsif (!$legitimate{$state} || ($state eq '23503' && !$current->{fk})) {
        die { unexpected => "$state: $message" };
    } else {
        $outcomes{"$state $legitimate{$state}"}++;
        if ($ENV{EXACT_RANDOM_DEBUG} && $state eq '40P01') { diag("DEADLOCK $message\n" . join("\n", @$log)) }
    }
    # The transaction is aborted: roll it back, drop what was left of it.
    $s->{queue} = [];
    $s->{conn}->do('ROLLBACK');
    push @$log, "$s->{name}: ROLLBACK (after the error)";
}

sub run_variant {
    my ($variant) = @_;
    $current = $variant;
    $admin->do("DROP DATABASE IF EXISTS $db");
    $admin->do("CREATE DATABASE $db");
    my @conns = map { DBI->connect("dbi:Pg:dbname=$db", undef, undef, \%options) } 1 .. 3;
    for my $c (@conns) {
        $c->do($_) for ("SET client_min_messages = warning", "SET TimeZone = 'UTC'", "SET deadlock_timeout = '20ms'");
    }
    my $checker = $conns[2];
    my ($key, $fk) = ($variant->{key}, $variant->{fk} ? ' REFERENCES customers ON UPDATE CASCADE ON DELETE CASCADE' : '');
    $checker->do($_) for (
        'CREATE EXTENSION segmentation',
        "CREATE TABLE customers (id $key PRIMARY KEY, created_at $variant->{since}, loyalty text)",
        "CREATE TABLE orders (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, customer_id $key$fk, "
            . "amount numeric(10,2), ordered_at $variant->{time})",
        "SELECT setval(pg_get_serial_sequence('orders', 'id'), 400)",
    );
    if ($variant->{shop_trigger}) {
        # The shop's own statement trigger: orders create their missing customers.
        $checker->do($_) for (
            q{CREATE FUNCTION create_missing_customers() RETURNS trigger LANGUAGE plpgsql AS $$
              BEGIN
                INSERT INTO customers (id, created_at, loyalty)
                SELECT DISTINCT customer_id, timestamptz '2025-06-01 00:00:00+00', 'SILVER' FROM new_orders WHERE customer_id IS NOT NULL
                ON CONFLICT (id) DO NOTHING;
                RETURN NULL;
              END $$},
            'CREATE TRIGGER shop_create_on_insert AFTER INSERT ON orders REFERENCING NEW TABLE AS new_orders '
                . 'FOR EACH STATEMENT EXECUTE FUNCTION create_missing_customers()',
            'CREATE TRIGGER shop_create_on_update AFTER UPDATE ON orders REFERENCING NEW TABLE AS new_orders '
                . 'FOR EACH STATEMENT EXECUTE FUNCTION create_missing_customers()',
        );
    }
    # Some data before tracking, so tracking back-fills.
    $checker->do('INSERT INTO customers VALUES ' . join(', ', map { '(' . join(', ', key(), since(), loyalty()) . ')' } 1 .. 12)
                 . ' ON CONFLICT DO NOTHING');
    $checker->do('INSERT INTO orders (customer_id, amount, ordered_at) VALUES ' . order_rows(30)) unless $variant->{fk};
    $checker->do(q{SELECT segmentation.track_customers('customers', 'id', 'created_at', 'loyalty')});
    $checker->do(q{SELECT segmentation.track_orders('orders', 'customer_id', 'amount', 'ordered_at')});
    my @automatic = (
        [Big => '{"minLifetimeValue": 1000}'],
        [Frequent => '{"minOrders": 3}'],
        [Recent => '{"maxDaysSinceLastPurchase": 36500}'],
        [Gold => '{"loyaltyLevels": ["GOLD", "PLATINUM"]}'],
        [Tenured => '{"maxTenureDays": 36500, "minAverageOrderValue": 50}'],
        [Mixed => $criteria[10]],
        [Past => '{"not": {"minTenureDays": 1}, "minDaysSinceLastPurchase": 1}'],
    );
    %segment = ();
    for my $s (@automatic) {
        ($segment{$s->[0]}) = $checker->selectrow_array('SELECT segmentation.create_segment(?, ?, true)', undef, @$s);
    }
    ($segment{VIP}) = $checker->selectrow_array(q{SELECT segmentation.create_segment('VIP', '{}', false)});
    $checker->do("SELECT segmentation.assign_manual_segment(id, $segment{VIP}) FROM customers WHERE id IN (" . join(', ', map { key() } 1 .. 5) . ')');

    my $drifts = check($checker, 'after tracking', []);
    my ($committed, $started) = (0, time);
    for my $step (1 .. $steps) {
        last if $drifts;
        my @txns = chance(0.5) ? (transaction(1)) : (transaction(0), transaction(0));
        my @log;
        unless (eval { run_interleaved([@conns[0 .. $#txns]], \@txns, \@log); 1 }) {
            my $error = $@;
            my $what = ref $error ? $error->{unexpected} : $error;
            fail("$variant->{name}: step $step: unexpected error $what");
            diag("seed $seed, step $step, what ran:\n" . join("\n", map { "  $_" } @log)
                 . "\nthe transactions:\n" . join("\n--\n", map { join("\n", map { '    ' . show($_) } @$_) } @txns));
            $drifts = 1;
            last;
        }
        $committed++;
        $drifts = check($checker, "seed $seed, step $step", \@log);
    }
    unless ($drifts) {
        $checker->do('SELECT segmentation.refresh_all()');
        $drifts = check($checker, "seed $seed, after a final refresh_all()", []);
    }
    my ($members) = $checker->selectrow_array(
        'SELECT string_agg(s.name || \' \' || (SELECT count(*) FROM segmentation.assignments a WHERE a.segment_id = s.id), \', \' ORDER BY s.id) '
        . 'FROM segmentation.segments s');
    diag("$variant->{name}: members at the end: $members");
    ok(!$drifts, sprintf('%s: %d steps without drift (%.1f s)', $variant->{name}, $committed, time - $started));
    $_->disconnect for @conns;
}

# verify() at now() and at the fixed instant; prints everything on drift.
sub check {
    my ($checker, $where, $log) = @_;
    for my $at ('now()', $as_of) {
        my $rows = $checker->selectall_arrayref("SELECT * FROM segmentation.verify($at)");
        next unless @$rows;
        diag("DRIFT at verify($at), $where\nstatements:\n" . join("\n", map { "  $_" } @$log)
             . "\nverify rows:\n" . join("\n", map { '  ' . join(' | ', map { $_ // 'NULL' } @$_) } @$rows));
        return 1;
    }
    return 0;
}

# --- main ---------------------------------------------------------------------

my $variant_index = 0;
for my $variant (@variants) {
    srand($seed + $variant_index++);
    run_variant($variant);
}
diag('exact_random: legitimate errors rolled back: '
     . (join(', ', map { "$_ x $outcomes{$_}" } sort keys %outcomes) || 'none'));
$admin->do("DROP DATABASE IF EXISTS $db");
done_testing();
