#!/usr/bin/perl
# The 1.0 -> 1.1 step refuses, and leaves untouched, a 1.0 database holding
# what 1.1 no longer allows: segment names equal regardless of case or
# surrounding spaces, names over 200 characters, manual segments with
# criteria. Its error names every one; once they are fixed, the update runs.
use strict;
use warnings;
use DBI;
use Test::More;

my $name = 'segmentation_upgrade_names';
my $admin = DBI->connect('dbi:Pg:dbname=postgres', undef, undef, { RaiseError => 1, AutoCommit => 1, PrintWarn => 0 });
$admin->do("DROP DATABASE IF EXISTS $name");
$admin->do("CREATE DATABASE $name");
my $db = DBI->connect("dbi:Pg:dbname=$name", undef, undef,
                      { RaiseError => 0, PrintError => 0, AutoCommit => 1, PrintWarn => 0 });
$db->do('SET client_min_messages = warning');
$db->do($_) or die $db->errstr for (
    q{CREATE EXTENSION segmentation VERSION '1.0'},
    # Plain INSERTs: the 1.0 table allowed these (and a 1.0 database runs the
    # new library, whose create_segment() would refuse some of them).
    q{INSERT INTO segmentation.segments (name, criteria, is_automatic) VALUES
        ('VIP', '{}', false),                     -- id 1
        ('vip', '{}', false),                     -- id 2
        (' Vip ', '{}', false),                   -- id 3
        ('Fine', '{"minOrders": 1}', true),       -- id 4
        ('Notes', '{"minOrders": 2}', false),     -- id 5
        (repeat('x', 201), '{}', false),          -- id 6
        (E'Tabbed\t', '{}', false)                -- id 7
    },
);
my $rows = q{SELECT string_agg(s::text, E'\n' ORDER BY id) FROM segmentation.segments s};
my ($before) = $db->selectrow_array($rows);

ok(!$db->do('ALTER EXTENSION segmentation UPDATE'), 'the update fails');
is($db->state, '55000', 'with SQLSTATE 55000');
my $message = $db->errstr;
like($message, qr/cannot update segmentation to 1\.1: /, 'the message says what failed');
like($message, qr/segments 1, 2, 3 have the same name regardless of case and surrounding spaces \('VIP', 'vip', ' Vip '\)/,
     'it names the segments whose names differ only by case and spaces');
like($message, qr/segment 3 \(' Vip '\) has spaces around its name/, 'the name with spaces around it');
like($message, qr/segment 7 \(E?'Tabbed\t'\) has spaces around its name/, 'a tab counts as a space');
like($message, qr/segment 6 has a name of 201 characters/, 'the name over 200 characters');
like($message, qr/segment 5 \('Notes'\) is manual and has criteria \{"minOrders": 2\}/, 'the manual segment with criteria');
unlike($message, qr/segment 4\b/, 'not the segment that is fine');
like($message, qr/HINT:|Rename or fix those segments/, 'and hints at the fix') or diag $message;
is($db->selectrow_array(q{SELECT extversion FROM pg_extension WHERE extname = 'segmentation'}), '1.0',
   'the extension stays at 1.0');
is($db->selectrow_array($rows), $before, 'the segments are untouched');

$db->do($_) or die $db->errstr for (
    q{UPDATE segmentation.segments SET name = 'VIP (old)' WHERE id = 2},
    q{UPDATE segmentation.segments SET name = 'Vip 3' WHERE id = 3},
    q{UPDATE segmentation.segments SET criteria = '{}' WHERE id = 5},
    q{UPDATE segmentation.segments SET name = left(name, 200) WHERE id = 6},
    q{UPDATE segmentation.segments SET name = 'Tabbed' WHERE id = 7},
);
ok($db->do('ALTER EXTENSION segmentation UPDATE'), 'once they are fixed, the update runs') or diag $db->errstr;
isnt($db->selectrow_array(q{SELECT extversion FROM pg_extension WHERE extname = 'segmentation'}), '1.0', 'and is done');
ok(!$db->do(q{SELECT segmentation.create_segment('vip (OLD)', '{}', false)}), 'names are now unique regardless of case');
is($db->errstr =~ s/\n.*//sr, 'ERROR:  segment "VIP (old)" already exists', 'with the extension\'s own message');
$db->disconnect;
$admin->do("DROP DATABASE $name");
done_testing();
