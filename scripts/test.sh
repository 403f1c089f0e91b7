#!/bin/sh
# Every test, from a fresh Debian bookworm machine (run as root):
#   1. GoogleTest suite of the C++ core (CTest)
#   2. pg_regress (sql/, expected/) and isolation tests (test/isolation/)
#   3. pgTAP suite (test/pgtap/) through pg_prove
#   4. end-to-end tests (test/scripts/*.t, Perl TAP): dump/restore, LISTEN, ...
# Each database suite runs in a throwaway cluster started by pg_virtualenv.
set -eu
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== core: GoogleTest"
cmake -S . -B build/core -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/core -j2 >/dev/null
(cd build/core && ctest --output-on-failure)

echo "== database suites (throwaway cluster)"
pg_virtualenv -o shared_preload_libraries=pg_cron -o cron.database_name=segmentation_tap \
    scripts/database-tests.sh

echo "== all tests passed"
