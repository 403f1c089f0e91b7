#!/bin/sh
# Checks the C++/PostgreSQL boundary rules (CONTRIBUTING.md, "The boundary")
# on clang's AST of src/: first on the planted violations of test/boundary/
# (the checker must find exactly those), then on the code. Needs
# python3-clang-14 (scripts/setup.sh installs it). A few seconds.
set -eu
cd "$(dirname "$0")/.."

# The core's headers refuse to compile after PostgreSQL's (core/pure.hpp):
# a translation unit that includes one after postgres.h must fail, and the
# same without postgres.h must compile.
server_includes=$(/usr/lib/postgresql/15/bin/pg_config --includedir-server)
for header in src/core/*.hpp; do
    [ "$header" = src/core/pure.hpp ] && continue
    name=${header#src/}
    if printf '#include "%s"\n' "$name" | g++ -std=c++17 -fsyntax-only -x c++ -Isrc - 2>/dev/null; then :; else
        echo "check-boundary: $name does not compile on its own" >&2; exit 1
    fi
    if printf 'extern "C" {\n#include "postgres.h"\n}\n#include "%s"\n' "$name" |
        g++ -std=c++17 -fsyntax-only -x c++ -Isrc -I"$server_includes" - 2>&1 | grep -q "included after PostgreSQL"; then :; else
        echo "check-boundary: $name compiles after postgres.h; it must include core/pure.hpp first" >&2; exit 1
    fi
done

# Debian's clang bindings live in the system Python, whatever python3 is first on PATH.
exec /usr/bin/python3 test/boundary/check_boundary.py src/glue/*.cpp src/glue/*/*.cpp src/core/*.cpp
