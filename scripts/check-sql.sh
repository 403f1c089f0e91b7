#!/bin/sh
# Checks the install-script rules (CONTRIBUTING.md, "SQL and security"): the
# \echo guard, schema-qualified objects, search_path pinned on SECURITY
# DEFINER functions. First on the planted violations of test/sqlcheck/ (the
# checker must find exactly those), then on the assembled install script of
# the current version (made here by make, from src/sql/parts/) and on the
# released scripts and upgrade steps of src/sql/. Needs only python3.
set -eu
cd "$(dirname "$0")/.."
version=$(sed -n "s/^default_version = '\(.*\)'$/\1/p" segmentation.control)
script=build/sql/segmentation--$version.sql
make -s "$script"
/usr/bin/python3 test/sqlcheck/check_sql.py --planted test/sqlcheck/planted.sql
/usr/bin/python3 test/sqlcheck/check_sql.py "$script" $(ls src/sql/released/*.sql src/sql/updates/*.sql 2>/dev/null || true)
echo "check-sql: $script and $(ls src/sql/released/*.sql src/sql/updates/*.sql 2>/dev/null | wc -l) released/upgrade scripts follow the rules"
