#!/bin/sh
# The Citus section of the benchmark (citus.pl): a throwaway cluster of a
# coordinator and two workers on 127.0.0.1 (scripts/citus-tests.sh, which
# builds Citus if needed), then the extension on it against one server.
#
#   test/bench/citus.sh                       # 1,000,000 customers
#   test/bench/citus.sh --customers 100000 --reps 1 --seconds 5
#
# The extension must be installed (make install); CITUS_NODE_CONF adds
# settings to every node (e.g. extension_destdir for an uninstalled build).
set -eu
cd "$(dirname "$0")/../.."
CITUS_NODE_CONF="track_functions = all
shared_buffers = 1GB
max_wal_size = 8GB
checkpoint_timeout = 30min
${CITUS_NODE_CONF:-}"
export CITUS_NODE_CONF
exec scripts/citus-tests.sh perl test/bench/citus.pl "$@"
