#!/bin/sh
# The main job: sets everything up, starts a throwaway cluster and segments a
# generated shop of $SHOP_CUSTOMERS customers (default 100000) in it.
set -eu
cd "$(dirname "$0")/.."
scripts/setup.sh
exec pg_virtualenv psql -X -v customers="${SHOP_CUSTOMERS:-100000}" -f scripts/demo.sql
