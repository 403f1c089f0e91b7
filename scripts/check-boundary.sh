#!/bin/sh
# Checks the C++/PostgreSQL boundary rules (CONTRIBUTING.md, "The boundary")
# on clang's AST of src/: first on the planted violations of test/boundary/
# (the checker must find exactly those), then on the code. Needs
# python3-clang-14 (scripts/setup.sh installs it). A few seconds.
set -eu
cd "$(dirname "$0")/.."
# Debian's clang bindings live in the system Python, whatever python3 is first on PATH.
exec /usr/bin/python3 test/boundary/check_boundary.py src/glue/*.cpp src/glue/*/*.cpp src/core/*.cpp
