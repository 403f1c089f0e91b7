#!/bin/sh
# Every test, from a fresh Debian bookworm machine (run as root):
#   0. the boundary checker (scripts/check-boundary.sh, CONTRIBUTING.md) and
#      the install-script checker (scripts/check-sql.sh)
#   1. GoogleTest suite of the C++ core (CTest), again under ASan and UBSan,
#      and a short libFuzzer run on the criteria reader and matcher
#   2. pg_regress (sql/, expected/) and isolation tests (test/isolation/)
#   3. pgTAP suite (test/pgtap/) through pg_prove
#   4. end-to-end tests (test/scripts/*.t, Perl TAP): dump/restore, LISTEN, ...,
#      and the example application (examples/admin-api) driven over HTTP
#   5. 2 and 3 again on a server whose clock is years ahead (libfaketime)
#   6. multi-node: test/citus/ on a throwaway Citus cluster (scripts/citus-tests.sh,
#      which builds Citus once from ../shared/citus)
#   7. the extension built with -Werror, pg_regress, isolation and pgTAP on
#      PostgreSQL 17 and 18, in Debian chroots (scripts/pg-versions.sh)
# Each database suite runs in a throwaway cluster started by pg_virtualenv.
# The extension is built with -Werror here (COPT), as on 17 and 18.
set -eu
cd "$(dirname "$0")/.."

COPT=-Werror scripts/setup.sh

echo "== boundary: PostgreSQL called only inside pg::call, no CHECK_FOR_INTERRUPTS, no allocating noexcept"
scripts/check-boundary.sh

echo "== install scripts: psql guard first, schema-qualified objects, search_path pinned on SECURITY DEFINER"
scripts/check-sql.sh

echo "== format: the C++ layout of .clang-format"
make -s format-check

echo "== core: GoogleTest"
cmake -S . -B build/core -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/core -j2 >/dev/null
(cd build/core && ctest --output-on-failure)

echo "== core: GoogleTest under AddressSanitizer and UndefinedBehaviorSanitizer"
cmake -S . -B build/sanitize -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEGMENTATION_SANITIZE=ON >/dev/null
cmake --build build/sanitize -j2 >/dev/null
(cd build/sanitize && ctest --output-on-failure)

echo "== core: libFuzzer on the criteria reader and matcher (${FUZZ_SECONDS:-30} s)"
cmake -S . -B build/fuzz -DCMAKE_CXX_COMPILER=clang++ -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSEGMENTATION_FUZZ=ON -DBUILD_TESTING=OFF >/dev/null
cmake --build build/fuzz -j2 >/dev/null
rm -rf build/fuzz/corpus && mkdir -p build/fuzz/corpus && cp test/fuzz/corpus/* build/fuzz/corpus/
build/fuzz/criteria_fuzzer -dict=test/fuzz/criteria.dict -max_total_time="${FUZZ_SECONDS:-30}" \
    -print_final_stats=1 -artifact_prefix=build/fuzz/ build/fuzz/corpus 2>build/fuzz/run.log \
    || { tail -50 build/fuzz/run.log; exit 1; }
grep -E "^stat::number_of_executed_units|^Done" build/fuzz/run.log

# pg_cron for schedule_refresh(); prepared transactions for the two-phase commit tests.
cluster_options="-o shared_preload_libraries=pg_cron -o cron.database_name=segmentation_tap -o max_prepared_transactions=10"

echo "== database suites (throwaway cluster)"
pg_virtualenv $cluster_options scripts/database-tests.sh regress pgtap e2e example

# No test may depend on the calendar. The same suites again on a server whose
# clock runs years ahead (libfaketime preloaded into the postmaster through
# the cluster's environment file); the clients keep the real clock.
days_ahead="${CLOCK_DAYS_AHEAD:-3650}"
echo "== database suites again, the server's clock $days_ahead days ahead"
mkdir -p build
printf "LD_PRELOAD='%s'\nFAKETIME='+%sd'\n" /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 "$days_ahead" \
    >build/faketime.environment
SERVER_CLOCK_AHEAD_DAYS="$days_ahead" \
    pg_virtualenv $cluster_options -c "--environment=$PWD/build/faketime.environment" \
    scripts/database-tests.sh regress pgtap

echo "== multi-node: Citus"
scripts/citus-tests.sh

echo "== PostgreSQL 17 and 18"
scripts/pg-versions.sh

echo "== all tests passed"
