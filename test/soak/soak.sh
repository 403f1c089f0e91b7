#!/bin/sh
# The soak: 8 pgbench clients for SOAK_SECONDS (default 300) on a generated
# shop of SOAK_CUSTOMERS (default 100000), mixing order inserts, updates and
# deletes, customer changes, manual assignments and removals, criteria edits
# (plain UPDATE and update_segment_concurrently) and refresh_due(); then
# refresh_due() and verify(). It passes when no client failed and verify()
# finds no drift; it reports the worst order-insert latency during an edit of
# each kind. Run as root on Debian bookworm:
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
# Scripts by number (pgbench's per-transaction log names them so):
# 0 order insert, 5 criteria edit, 7 online criteria edit.
pgbench -n -c 8 -j 2 -T "$seconds" --max-tries=10 --failures-detailed -P 30 \
    -l --log-prefix="$work/tx" -D customers="$customers" \
    -f "test/soak/order_insert.sql@50" -f "test/soak/order_update.sql@10" \
    -f "test/soak/order_delete.sql@5" -f "test/soak/customer_change.sql@5" \
    -f "test/soak/manual.sql@10" -f "test/soak/criteria_edit.sql@1" \
    -f "test/soak/refresh_due.sql@3" -f "test/soak/criteria_edit_online.sql@1" \
    "$db" 2>&1 | tee "$work/pgbench.log"

# The worst order insert overlapping an edit of each kind. Log lines:
# client transaction latency_us script epoch_s epoch_us (at the end).
cat "$work"/tx.* | awk '
    { end = $5 + $6 / 1e6; start = end - $3 / 1e6 }
    $4 == 5 || $4 == 7 { n++; kind[n] = $4; s[n] = start; e[n] = end }
    $4 == 0 { m++; is[m] = start; ie[m] = end; il[m] = $3 / 1000 }
    END {
        # An insert counts for the online edits only if no plain edit overlapped it.
        for (j = 1; j <= m; j++) {
            plain = 0; online = 0
            for (k = 1; k <= n; k++)
                if (is[j] < e[k] && ie[j] > s[k]) { if (kind[k] == 5) plain = 1; else online = 1 }
            if (plain && il[j] > worst_plain) worst_plain = il[j]
            if (online && !plain && il[j] > worst_online) worst_online = il[j]
            if (!plain && !online && il[j] > worst_none) worst_none = il[j]
        }
        printf "soak: worst order insert during a plain criteria edit: %.1f ms; during an online edit (and no plain one): %.1f ms; during no edit: %.1f ms\n", worst_plain, worst_online, worst_none
    }' | tee "$work/stall.log"

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
