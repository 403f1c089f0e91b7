#!/bin/sh
# The soak: 8 pgbench clients for SOAK_SECONDS (default 300) on a generated
# shop of SOAK_CUSTOMERS (default 100000), mixing order inserts, updates and
# deletes, customer changes, manual assignments and removals, criteria edits
# and refresh_due(); then refresh_due() and verify(). It passes when no
# client failed and verify() finds no drift. Run as root on Debian bookworm:
#   test/soak/soak.sh
# (it sets up what it needs and uses a throwaway cluster, like make test-all).
set -eu
cd "$(dirname "$0")/../.."
if [ -z "${PGHOST:-}" ]; then
    scripts/setup.sh
    exec pg_virtualenv "$0" "$@"
fi
export PATH="/usr/lib/postgresql/15/bin:$PATH"
seconds=${SOAK_SECONDS:-300}
customers=${SOAK_CUSTOMERS:-100000}
db=segmentation_soak
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dropdb --if-exists "$db" && createdb "$db"
psql -X -q -v ON_ERROR_STOP=1 -v customers="$customers" -d "$db" -f scripts/generate_shop.sql
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -f test/soak/setup.sql

echo "soak: $seconds s, 8 clients, $customers customers"
pgbench -n -c 8 -j 2 -T "$seconds" --max-tries=10 --failures-detailed -P 30 \
    -D customers="$customers" \
    -f test/soak/order_insert.sql@50 -f test/soak/order_update.sql@10 -f test/soak/order_delete.sql@5 \
    -f test/soak/customer_change.sql@5 -f test/soak/manual.sql@10 -f test/soak/criteria_edit.sql@1 \
    -f test/soak/refresh_due.sql@3 \
    "$db" 2>&1 | tee "$work/pgbench.log"

echo "soak: final refresh_due() and verify()"
psql -X -q -v ON_ERROR_STOP=1 -d "$db" -c 'SELECT * FROM segmentation.refresh_due()' \
    -c 'SELECT count(*) AS drift FROM segmentation.verify()' | tee "$work/verify.log"

failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$work/pgbench.log")
drift=$(awk 'NR==3 {print $1}' "$work/verify.log")
if grep -q "aborted" "$work/pgbench.log" || [ "${failed:-1}" != 0 ] || [ "$drift" != 0 ]; then
    echo "soak: FAILED (failed transactions: ${failed:-?}, drift: $drift)"
    exit 1
fi
echo "soak: passed (no failed transaction, no drift)"
