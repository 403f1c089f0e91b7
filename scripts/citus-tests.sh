#!/bin/sh
# The multi-node suite: a throwaway Citus cluster (a coordinator and two
# workers on 127.0.0.1) and the pg_regress tests of test/citus/ against its
# coordinator. Needs the segmentation extension installed (scripts/setup.sh).
#
# Citus has no Debian package: it is built from the tarball in
# ../shared/citus (override with CITUS_SOURCE=dir) into build/, once; an
# installed citus.so of the same version is reused.
#
#   scripts/citus-tests.sh              build if needed, run test/citus/ and
#                                       test/scripts/citus_notify.t
#   scripts/citus-tests.sh CMD ARGS...  run CMD instead, with PGHOST, PGPORT,
#                                       PGUSER and PGDATABASE set for the
#                                       coordinator (e.g. psql)
#
# PostgreSQL refuses to run as root: as root, the clusters belong to the
# postgres user. The servers started here are always stopped on exit.
# CITUS_NODE_CONF, when set, is appended to each node's postgresql.conf
# (e.g. Debian's extension_destdir, to test a build that is not installed).
# CITUS_PORTS, when set, gives the three ports (coordinator, worker 1,
# worker 2, separated by spaces) instead of three the kernel picks.
set -eu
cd "$(dirname "$0")/.."
repo=$(pwd)

CITUS_VERSION=13.2.2
CITUS_SOURCE=${CITUS_SOURCE:-$repo/../shared/citus}
PG_BIN=/usr/lib/postgresql/15/bin
PG_CONFIG=$PG_BIN/pg_config
pkglibdir=$("$PG_CONFIG" --pkglibdir)

# ---- Citus, built once ------------------------------------------------------

install_build_packages() {
    packages="build-essential autoconf flex bison postgresql-server-dev-15 libcurl4-openssl-dev
liblz4-dev libzstd-dev libkrb5-dev libselinux1-dev libpam0g-dev libxslt1-dev libreadline-dev
libssl-dev zlib1g-dev libicu-dev patch"
    missing=""
    for p in $packages; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
    done
    [ -z "$missing" ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "citus: missing packages:$missing; run as root to install them" >&2
        exit 1
    fi
    echo "citus: installing$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

build_citus() {
    # citus_version() is built from this string, so it names the release.
    if [ -f "$pkglibdir/citus.so" ] && grep -aq "Citus $CITUS_VERSION on" "$pkglibdir/citus.so"; then
        echo "citus: $CITUS_VERSION already installed"
        return 0
    fi
    tarball=$CITUS_SOURCE/citus-$CITUS_VERSION.tar.gz
    if [ ! -f "$tarball" ]; then
        echo "citus: $tarball not found (set CITUS_SOURCE to the folder that holds it)" >&2
        exit 1
    fi
    install_build_packages
    src=build/citus-$CITUS_VERSION
    # shared/ is read-only: unpack and patch a copy (once; .patched marks it done).
    if [ ! -f "$src/.patched" ]; then
        rm -rf "$src"
        mkdir -p build
        tar -xzf "$tarball" -C build
        (cd "$src" && patch -s -p1 < "$CITUS_SOURCE/pg15.20-have_createdb_privilege.patch")
        touch "$src/.patched"
    fi
    echo "citus: building $CITUS_VERSION in $src (a few minutes)"
    (
        cd "$src"
        [ -f Makefile.global ] || ./configure PG_CONFIG="$PG_CONFIG" >configure.log 2>&1 || { tail -30 configure.log; exit 1; }
        make -j2 with_llvm=no >make.log 2>&1 || { tail -30 make.log; exit 1; }
        make install with_llvm=no >install.log 2>&1 || { tail -30 install.log; exit 1; }
    )
}

# ---- the cluster ---------------------------------------------------------------

# Run from the cluster folder: the server's owner may not be able to enter
# the current one.
if [ "$(id -u)" -eq 0 ]; then
    as_server_owner() { (cd "$cluster_dir" && runuser -u postgres -- "$@"); }
else
    as_server_owner() { (cd "$cluster_dir" && "$@"); }
fi

# Three ports nothing listens on now (the kernel's choice).
free_ports() {
    perl -MIO::Socket::INET -e 'for (1..3) { my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1",
        LocalPort => 0, ReuseAddr => 1) or die "no free port: $!\n"; push @keep, $s; print $s->sockport, "\n" }'
}

started=""
cluster_dir=""
stop_cluster() {
    status=$?
    for node in $started; do
        as_server_owner "$PG_BIN/pg_ctl" -D "$cluster_dir/$node" -m immediate -w stop >/dev/null 2>&1 || true
    done
    [ -n "$cluster_dir" ] && rm -rf "$cluster_dir"
    exit $status
}

start_node() {  # name port
    dir=$cluster_dir/$1
    as_server_owner "$PG_BIN/initdb" -D "$dir" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
    cat >>"$dir/postgresql.conf" <<EOF
port = $2
listen_addresses = '127.0.0.1'
unix_socket_directories = '$cluster_dir'
shared_preload_libraries = 'citus'
wal_level = logical
max_prepared_transactions = 100
fsync = off
${CITUS_NODE_CONF:-}
EOF
    as_server_owner "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 start >/dev/null \
        || { cat "$dir/server.log"; exit 1; }
    started="$started $1"
}

node_sql() {  # port database sql
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U postgres -d "${2}" -c "$3" >/dev/null
}

build_citus

echo "citus: starting a coordinator and two workers"
# In /tmp: every user can reach it, and socket paths stay short.
cluster_dir=$(mktemp -d /tmp/segmentation-citus.XXXXXX)
trap stop_cluster EXIT
trap 'exit 130' INT TERM
chmod 755 "$cluster_dir"
[ "$(id -u)" -eq 0 ] && chown postgres "$cluster_dir"
if [ -n "${CITUS_PORTS:-}" ]; then
    ports=$(echo "$CITUS_PORTS" | tr -s ' ' '\n')
    [ "$(echo "$ports" | grep -c .)" -eq 3 ] || { echo "citus: CITUS_PORTS needs three ports" >&2; exit 2; }
else
    ports=$(free_ports)
fi
coordinator_port=$(echo "$ports" | sed -n 1p)
worker1_port=$(echo "$ports" | sed -n 2p)
worker2_port=$(echo "$ports" | sed -n 3p)
start_node coordinator "$coordinator_port"
start_node worker1 "$worker1_port"
start_node worker2 "$worker2_port"

database=citus_regression
for port in $coordinator_port $worker1_port $worker2_port; do
    node_sql "$port" postgres "CREATE DATABASE $database"
    node_sql "$port" "$database" "CREATE EXTENSION citus"
done
node_sql "$coordinator_port" "$database" "SELECT citus_set_coordinator_host('127.0.0.1', $coordinator_port)"
node_sql "$coordinator_port" "$database" "SELECT citus_add_node('127.0.0.1', $worker1_port)"
node_sql "$coordinator_port" "$database" "SELECT citus_add_node('127.0.0.1', $worker2_port)"

export PGHOST=127.0.0.1 PGPORT="$coordinator_port" PGUSER=postgres PGDATABASE="$database"
if [ $# -gt 0 ]; then
    "$@"
    exit
fi

echo "citus: test/citus/ on the coordinator (port $coordinator_port)"
rm -rf build/citus-results
mkdir -p build/citus-results
tests=$(cd test/citus/sql && ls *.sql | sed 's/\.sql$//' | sort)
"$pkglibdir/pgxs/src/test/regress/pg_regress" --use-existing --host=127.0.0.1 --port="$coordinator_port" \
    --user=postgres --dbname="$database" --bindir="$PG_BIN" \
    --inputdir=test/citus --outputdir=build/citus-results $tests \
    || { cat build/citus-results/regression.diffs 2>/dev/null; exit 1; }
# A real LISTEN client on the coordinator (Perl DBI, as test/scripts/notify.t).
echo "citus: test/scripts/citus_notify.t"
prove test/scripts/citus_notify.t
