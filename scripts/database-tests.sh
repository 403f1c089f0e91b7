#!/bin/sh
# The database suites; scripts/test.sh runs this inside pg_virtualenv, which
# sets PGHOST, PGPORT, PGUSER and PGPASSWORD for a throwaway cluster.
# PG_MAJOR picks the PostgreSQL version (scripts/pg-versions.sh: 17, 18);
# END_TO_END=no skips the end-to-end tests.
set -eu
cd "$(dirname "$0")/.."
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
export PATH="/usr/lib/postgresql/$PG_MAJOR/bin:$PATH"

show_diffs() {
    for f in regression.diffs output_iso/regression.diffs; do
        [ -f "$f" ] && cat "$f"
    done
    return 1
}

echo "-- pg_regress and isolation tests"
make -s installcheck PG_CONFIG="$PG_CONFIG" || show_diffs

echo "-- pgTAP"
dropdb --if-exists segmentation_tap
createdb segmentation_tap
psql -X -q -d segmentation_tap -c 'CREATE EXTENSION pgtap'
pg_prove -d segmentation_tap --failures test/pgtap/*.sql

[ "${END_TO_END:-yes}" = yes ] || exit 0  # scripts/pg-versions.sh: not on 17 and 18
echo "-- end-to-end tests (LISTEN client, dump and restore, ...)"
prove test/scripts/*.t
