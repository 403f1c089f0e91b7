#!/bin/bash
# The segmentation benchmark, one command:
#
#   test/bench/run.sh                 # 10,000, 100,000 and 1,000,000 customers
#   test/bench/run.sh --sizes 10000,100000 --keys bigint
#   test/bench/run.sh --smoke         # every path once at 2,000 customers (< 1 min)
#
# Without PGHOST it starts a throwaway PostgreSQL 15 cluster with
# pg_virtualenv (postgresql-common) and runs there; with PGHOST (and the other
# PG* variables) it runs against that server, in databases named bench_*,
# which it drops again unless --keep is given. The extension must be
# installed in the server (make install, or make demo). Options: bench.pl.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
export PATH="/usr/lib/postgresql/15/bin:$PATH"

for tool in psql pgbench perl; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (scripts/setup.sh installs it)" >&2; exit 1; }
done
perl -MDBD::Pg -e 1 2>/dev/null || { echo "run.sh: DBD::Pg is missing (apt-get install libdbd-pg-perl)" >&2; exit 1; }

if [ -n "${PGHOST:-}" ]; then
    exec perl "$here/bench.pl" "$@"
fi

command -v pg_virtualenv >/dev/null || { echo "run.sh: pg_virtualenv is missing (apt-get install postgresql-common)" >&2; exit 1; }
# -t: the cluster lives in a temporary directory even for root, so the
# benchmark does not collide with another pg_virtualenv (make test-all).
# The server's own settings; the sessions' settings are in bench.pl.
exec pg_virtualenv -t -v 15 \
    -o shared_buffers=1GB \
    -o max_wal_size=8GB \
    -o checkpoint_timeout=30min \
    -o maintenance_work_mem=512MB \
    -o autovacuum=on \
    perl "$here/bench.pl" "$@"
