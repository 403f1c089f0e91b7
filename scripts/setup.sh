#!/bin/sh
# Installs what building and testing the extension needs on Debian bookworm
# (as root), then builds and installs the extension. Safe to run again:
# packages already present are not fetched.
set -eu
cd "$(dirname "$0")/.."

packages="make g++ cmake libgtest-dev clang libclang-rt-14-dev python3-clang-14
postgresql-15 postgresql-client-15 postgresql-server-dev-15 postgresql-common
postgresql-15-pgtap libtap-parser-sourcehandler-pgtap-perl postgresql-15-cron
libdbd-pg-perl faketime clang-format"

missing=""
for p in $packages; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Node.js and npm for the example application (examples/admin-api): Debian's
# packages, unless node and npm are already there (from whatever package).
command -v node >/dev/null 2>&1 || missing="$missing nodejs"
command -v npm >/dev/null 2>&1 || missing="$missing npm"
if [ -n "$missing" ]; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "setup: missing packages:$missing; run as root to install them" >&2
        exit 1
    fi
    echo "setup: installing$missing"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# COPT adds compiler flags (scripts/test.sh: -Werror); then every object is
# rebuilt with them, whatever an earlier build left.
make -s -j2 PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config ${COPT:+-B COPT="$COPT"}
make -s install PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config >/dev/null

# The example application's one dependency, node-postgres, as the lockfile
# pins it; again only when the lockfile changed since the last install.
example=examples/admin-api
if [ ! -f "$example/node_modules/.package-lock.json" ] ||
    [ "$example/package-lock.json" -nt "$example/node_modules/.package-lock.json" ]; then
    echo "setup: npm ci in $example"
    (cd "$example" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
