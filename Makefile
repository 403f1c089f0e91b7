# PGXS build of the segmentation extension.
#
#   make                 build the shared library
#   make install         install it and the SQL scripts (as root)
#   make installcheck    pg_regress (sql/, expected/) and isolation tests
#                        (test/isolation/) against a running server
#
# The two commands of the README (make demo, make test-all) and make bench
# set everything up first, including the packages: see scripts/.

EXTENSION = segmentation
MODULE_big = segmentation

CORE_SOURCES = $(wildcard src/core/*.cpp)
GLUE_SOURCES = $(wildcard src/glue/*.cpp src/glue/*/*.cpp)
OBJS = $(CORE_SOURCES:.cpp=.o) $(GLUE_SOURCES:.cpp=.o)

# Install and upgrade scripts live in src/sql/, because pg_regress owns sql/
# (src/sql/README.md). The newest version's script is assembled from the
# parts (rule below); released scripts are kept verbatim and installed, with
# the upgrade steps, so every released version stays installable.
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'$$/\1/p" $(EXTENSION).control)
SQL_PARTS = $(sort $(wildcard src/sql/parts/*.sql))
DATA_built = build/sql/$(EXTENSION)--$(EXTVERSION).sql
DATA = $(wildcard src/sql/released/$(EXTENSION)--*.sql src/sql/updates/$(EXTENSION)--*--*.sql)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=segmentation

ISOLATION = $(patsubst test/isolation/specs/%.spec,%,$(sort $(wildcard test/isolation/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test/isolation --load-extension=segmentation

PG_CPPFLAGS = -I$(srcdir)/src
PG_CXXFLAGS = -std=c++17 -fPIC -Wextra -Wno-missing-field-initializers -Wno-unused-parameter -Wno-register -MMD -MP
# COPT is PostgreSQL's knob for extra compiler flags (the tests build with
# COPT=-Werror); PGXS before 18 hands it to the C compiler only.
PG_CXXFLAGS += $(COPT)
SHLIB_LINK = -lstdc++
EXTRA_CLEAN = $(OBJS:.o=.d)

PG_CONFIG ?= /usr/lib/postgresql/15/bin/pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

ifeq ($(wildcard $(PGXS)),)
# A fresh machine: only the README's commands work until setup has run.
all install installcheck:
	@echo "PostgreSQL development files are missing: run 'make demo' or 'make test-all' (they install them)." >&2; exit 1
else
# No LLVM bitcode for the JIT: the C++ code gains nothing from it.
override with_llvm = no
include $(PGXS)
# The core never includes PostgreSQL (CONTRIBUTING.md, "The boundary"): it is
# compiled without PostgreSQL's include directories, so an #include of
# postgres.h there fails to build.
$(CORE_SOURCES:.cpp=.o): override CPPFLAGS := -I$(srcdir)/src
# Rebuild objects when a header they include changes (-MMD above).
-include $(OBJS:.o=.d)
endif

.PHONY: demo test-all bench bench-citus format format-check
demo:
	scripts/demo.sh
test-all:
	scripts/test.sh
# C++ layout (.clang-format): format-check fails on any difference (the test
# command runs it); format rewrites the files in place.
CLANG_FORMAT ?= $(shell command -v clang-format-14 || command -v clang-format)
FORMATTED = $(shell git ls-files 'src/*.cpp' 'src/*.hpp' 'test/core/*.cpp' 'test/fuzz/*.cpp')
format-check:
	$(CLANG_FORMAT) --dry-run --Werror $(FORMATTED)
format:
	$(CLANG_FORMAT) -i $(FORMATTED)
# compile_commands.json of the whole extension (glue and core) for clangd and
# clang-tidy, recorded from a full PGXS build by bear.
compile_commands.json: $(CORE_SOURCES) $(GLUE_SOURCES)
	bear --output $@ -- $(MAKE) -B -s -j2 PG_CONFIG=$(PG_CONFIG)
# The benchmark (test/bench/README.md): make bench BENCH_OPTIONS='--sizes 10000'
bench:
	scripts/setup.sh
	test/bench/run.sh $(BENCH_OPTIONS)
# Its Citus section: make bench-citus BENCH_CITUS_OPTIONS='--customers 100000'
bench-citus:
	scripts/setup.sh
	test/bench/citus.sh $(BENCH_CITUS_OPTIONS)

# The install script: the \echo guard, then the parts in order.
$(DATA_built): $(SQL_PARTS) $(EXTENSION).control
	@mkdir -p $(@D)
	@{ printf '%s\n' '\echo Use "CREATE EXTENSION $(EXTENSION)" to load this file. \quit' \
	    '-- $(EXTENSION) $(EXTVERSION), assembled from src/sql/parts/ by the Makefile: edit the parts.'; \
	  for part in $(SQL_PARTS); do printf '\n'; cat "$$part"; done; } >$@.tmp
	@mv $@.tmp $@
