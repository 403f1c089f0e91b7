#!/bin/sh
# The database suites; scripts/test.sh runs this inside pg_virtualenv, which
# sets PGHOST, PGPORT, PGUSER and PGPASSWORD for a throwaway cluster.
#   scripts/database-tests.sh            every suite
#   scripts/database-tests.sh regress pgtap
#                                        only those (regress: pg_regress and
#                                        isolation; pgtap; e2e: test/scripts;
#                                        example: examples/admin-api over HTTP)
# PG_MAJOR picks the PostgreSQL version (scripts/pg-versions.sh: 17, 18).
set -eu
cd "$(dirname "$0")/.."
PG_MAJOR=${PG_MAJOR:-15}
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
export PATH="/usr/lib/postgresql/$PG_MAJOR/bin:$PATH"
suites="${*:-regress pgtap e2e example}"

show_diffs() {
    for f in regression.diffs output_iso/regression.diffs; do
        [ -f "$f" ] && cat "$f"
    done
    return 1
}

echo "-- the server's clock: $(psql -X -A -t -d postgres -c 'SELECT now()')"
# Under a faked clock (scripts/test.sh), make sure the server really has it.
if [ -n "${SERVER_CLOCK_AHEAD_DAYS:-}" ]; then
    ahead=$(psql -X -A -t -d postgres -c "SELECT extract(epoch FROM now())::bigint - $(date +%s)")
    if [ "$ahead" -lt $((SERVER_CLOCK_AHEAD_DAYS * 86400 - 86400)) ]; then
        echo "database-tests: the server's clock is $ahead s ahead, not $SERVER_CLOCK_AHEAD_DAYS days" >&2
        exit 1
    fi
fi

for suite in $suites; do
    case "$suite" in
    regress)
        echo "-- pg_regress and isolation tests"
        make -s installcheck PG_CONFIG="$PG_CONFIG" || show_diffs
        ;;
    pgtap)
        echo "-- pgTAP"
        dropdb --if-exists segmentation_tap
        createdb segmentation_tap
        psql -X -q -d segmentation_tap -c 'CREATE EXTENSION pgtap'
        pg_prove -d segmentation_tap --failures test/pgtap/*.sql
        ;;
    e2e)
        echo "-- end-to-end tests (LISTEN client, dump and restore, ...)"
        prove test/scripts/*.t
        ;;
    example)
        echo "-- the example application (examples/admin-api) over HTTP"
        if [ ! -d examples/admin-api/node_modules/pg ]; then
            echo "database-tests: examples/admin-api/node_modules is missing: run scripts/setup.sh (or npm ci there)" >&2
            exit 1
        fi
        (cd examples/admin-api && node --test test/*.test.js)
        ;;
    *)
        echo "database-tests: unknown suite '$suite' (regress, pgtap, e2e, example)" >&2
        exit 2
        ;;
    esac
done
