#!/usr/bin/python3
"""Checks the C++/PostgreSQL boundary rules of CONTRIBUTING.md ("The boundary")
on clang's AST of every translation unit in src/.

Run it through scripts/check-boundary.sh. Findings are printed as
file:line:col: message; the exit status is 1 when there is any.

What it checks (each finding names the rule):
  pg-call      Glue code calls a function declared in a PostgreSQL header
               (directly, or through a macro such as palloc, ereport,
               CStringGetTextDatum) outside a pg::call lambda and outside a
               function marked SEGMENTATION_PG_CONTEXT or
               SEGMENTATION_BOUNDARY. The few header functions that never
               raise nor allocate are listed in NEVER_RAISE below.
  pg-context   A function marked SEGMENTATION_PG_CONTEXT ("PG-style") is
               called outside PostgreSQL context (same places as above).
  marker       A SEGMENTATION_PG_CONTEXT definition whose first declaration
               lacks the marker (callers elsewhere would not be checked).
  lambda       pg::call is given something other than a lambda written in
               place (the check could not see what it runs).
  pg-local     A local variable that needs a destructor (see
               trivially_destructible) inside a pg::call lambda or a
               SEGMENTATION_PG_CONTEXT function, where PostgreSQL may longjmp.
  interrupts   CHECK_FOR_INTERRUPTS (ProcessInterrupts) outside the guard.
  destructor   A destructor calls PostgreSQL, even through pg::call.
  noexcept     A noexcept function in src/ allocates or may throw: a
               new-expression, or a call of a potentially-throwing function
               of the C++ library (std::string, std::vector, push_back...)
               or of src/, outside a try block with catch (...).
  core-include A src/core translation unit includes a PostgreSQL header.
"""
import functools
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile

import clang.cindex as ci

K = ci.CursorKind
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

# PostgreSQL header functions that neither raise nor allocate, so C++ code may
# call them anywhere. Keep this list short and say why for each entry.
NEVER_RAISE = {
    "MemoryContextSwitchTo",  # assigns CurrentMemoryContext
    "DatumGetFloat8", "Float8GetDatum",  # union reinterpretation (by value)
    "DatumGetFloat4", "Float4GetDatum",
    "list_length", "list_nth", "list_nth_cell",  # read a List (pg_list.h inlines)
    "pg_snprintf",  # snprintf: formats into the caller's buffer
    "ItemPointerEquals",  # compares two item pointers' fields
}

# Standard functions that are not declared noexcept but cannot throw on the
# arithmetic types we give them.
STD_NEVER_THROW = {"min", "max", "clamp"}

FUNCTION_KINDS = {K.FUNCTION_DECL, K.CXX_METHOD, K.CONSTRUCTOR, K.DESTRUCTOR, K.FUNCTION_TEMPLATE,
                  K.CONVERSION_FUNCTION}
SCOPES = {K.NAMESPACE, K.STRUCT_DECL, K.CLASS_DECL, K.CLASS_TEMPLATE, K.LINKAGE_SPEC, K.UNEXPOSED_DECL}
PG_CONTEXT = "segmentation:pg_context"
BOUNDARY = "segmentation:boundary"
NOTHROW = {"BASIC_NOEXCEPT", "DYNAMIC_NONE", "NOTHROW", "COMPUTED_NOEXCEPT", "UNEVALUATED",
           "UNINSTANTIATED", "UNPARSED"}


def pg_include_dir():
    return subprocess.run(["pg_config", "--includedir-server"], capture_output=True, text=True,
                          check=True).stdout.strip()


def markers(cursor):
    return {c.spelling for c in cursor.get_children() if c.kind == K.ANNOTATE_ATTR}


@functools.lru_cache(maxsize=None)
def real_path(name):
    return os.path.realpath(name)


def file_of(cursor):
    loc = cursor.location
    return real_path(loc.file.name) if loc.file else ""


def qualified_name(cursor):
    parts = []
    c = cursor
    while c is not None and c.kind != K.TRANSLATION_UNIT:
        if c.spelling:
            parts.append(c.spelling)
        c = c.semantic_parent
    return "::".join(reversed(parts))


def in_namespace_std(cursor):
    c = cursor.semantic_parent
    while c is not None and c.kind != K.TRANSLATION_UNIT:
        if c.kind == K.NAMESPACE and c.spelling == "std" and (
                c.semantic_parent is None or c.semantic_parent.kind == K.TRANSLATION_UNIT):
            return True
        c = c.semantic_parent
    return False


# Standard templates that are trivially destructible when their arguments are.
TRANSPARENT_TEMPLATES = {"std::optional", "std::pair", "std::array", "std::tuple"}
# Standard templates that are always trivially destructible.
TRIVIAL_TEMPLATES = {"std::basic_string_view"}


def trivially_destructible(t):
    """libclang cannot ask the compiler, so: scalars, pointers and references
    are; a record is when it is POD, when it is a closure (lambdas here capture
    by reference), when it is one of TRANSPARENT_TEMPLATES over such types, or
    when it is a non-template record of ours without a destructor, whose bases
    and fields are. Anything else (std::string, std::vector...) is not."""
    t = t.get_canonical()
    while t.kind in (ci.TypeKind.CONSTANTARRAY, ci.TypeKind.INCOMPLETEARRAY):
        t = t.element_type.get_canonical()
    if t.kind != ci.TypeKind.RECORD or t.is_pod():
        return True
    if "(lambda" in t.spelling:
        return True
    decl = t.get_declaration()
    count = t.get_num_template_arguments()
    if count > 0:
        name = qualified_name(decl).replace("std::__cxx11::", "std::")
        if name in TRIVIAL_TEMPLATES:
            return True
        return name in TRANSPARENT_TEMPLATES and all(
            trivially_destructible(t.get_template_argument_type(i)) for i in range(count)
            if t.get_template_argument_type(i).kind != ci.TypeKind.INVALID)
    for child in decl.get_children():
        if child.kind == K.DESTRUCTOR:
            return False
        if child.kind in (K.FIELD_DECL, K.CXX_BASE_SPECIFIER) and not trivially_destructible(child.type):
            return False
    return True


def has_catch_all(try_stmt):
    for child in try_stmt.get_children():
        if child.kind == K.CXX_CATCH_STMT:
            if not any(g.kind == K.VAR_DECL for g in child.get_children()):
                return True
    return False


class Checker:
    def __init__(self, path, pg_dir):
        self.path = path
        self.pg_dir = os.path.realpath(pg_dir) + os.sep
        self.src_dir = os.path.join(ROOT, "src") + os.sep
        self.findings = set()
        self.marked = {}  # USR -> set of markers, over every declaration seen

    def report(self, cursor, rule, message):
        loc = cursor.location
        name = os.path.relpath(os.path.realpath(loc.file.name), ROOT) if loc.file else self.path
        self.findings.add(f"{name}:{loc.line}:{loc.column}: [{rule}] {message}")

    def ours(self, cursor):
        f = file_of(cursor)
        return f.startswith(self.src_dir) or f == os.path.realpath(self.path)

    def from_postgres(self, decl):
        return file_of(decl).startswith(self.pg_dir)

    # First pass: which functions carry which marker (any declaration counts).
    def collect(self, cursor):
        """Which functions carry which marker (any declaration counts). Only
        scopes that hold declarations are entered, not function bodies."""
        for c in cursor.get_children():
            if c.kind in FUNCTION_KINDS:
                m = markers(c)
                if m:
                    self.marked.setdefault(c.get_usr(), set()).update(m)
            elif c.kind in SCOPES:
                self.collect(c)

    def run(self, tu):
        # Only declarations written in src/ (or the fixture) matter: markers
        # are put there, and only code there is checked. Skipping the rest
        # (PostgreSQL's and the C++ library's headers) keeps the walk short.
        ours = [c for c in tu.cursor.get_children() if self.ours(c)]
        for c in ours:
            if c.kind in FUNCTION_KINDS:
                self.marked.setdefault(c.get_usr(), set()).update(markers(c))
            elif c.kind in SCOPES:
                self.collect(c)
        for c in ours:
            self.visit(c, None)

    def visit(self, cursor, ctx):
        """ctx: None outside functions; else a dict describing the innermost context."""
        kind = cursor.kind
        if kind in FUNCTION_KINDS and cursor.is_definition():
            if not self.ours(cursor):
                return
            m = self.marked.get(cursor.get_usr(), set())
            own = markers(cursor)
            if own and cursor.canonical is not None and cursor.canonical != cursor and not markers(cursor.canonical):
                self.report(cursor, "marker", f"{cursor.spelling} is marked here but not on its first declaration")
            new = {"pg": bool(m & {PG_CONTEXT, BOUNDARY}), "boundary": BOUNDARY in m,
                   "destructor": kind == K.DESTRUCTOR, "function": cursor}
            if cursor.exception_specification_kind.name in ("BASIC_NOEXCEPT", "DYNAMIC_NONE"):
                self.check_noexcept(cursor, cursor)
            for child in cursor.get_children():
                self.visit(child, new)
            return
        if kind == K.LAMBDA_EXPR and ctx is not None:
            # A lambda's body runs where it is called; only pg::call's count
            # as PostgreSQL context (handled at the call below).
            for child in cursor.get_children():
                self.visit(child, ctx)
            return
        if kind == K.VAR_DECL and ctx is not None and ctx["pg"] and not ctx["boundary"] and self.ours(cursor):
            self.check_local(cursor, ctx.get("block"))
        if kind == K.COMPOUND_STMT and ctx is not None:
            for child in cursor.get_children():
                self.visit(child, dict(ctx, block=cursor))
            return
        if kind == K.CALL_EXPR and ctx is not None and self.ours(cursor) is not False:
            self.check_call(cursor, ctx)
            if self.is_pg_call(cursor):
                args = list(cursor.get_arguments())
                if len(args) != 1 or not self.is_lambda(args[0]):
                    self.report(cursor, "lambda", "pg::call must be given a lambda written in place")
                inner = dict(ctx, pg=True)
                for child in cursor.get_children():
                    self.visit(child, inner)
                return
        for child in cursor.get_children():
            self.visit(child, ctx)

    def check_local(self, var, block):
        """Where PostgreSQL may longjmp, locals must not need destroying while
        it is called: from their declaration to the end of their block."""
        if var.storage_class == ci.StorageClass.STATIC or trivially_destructible(var.type):
            return
        if block is not None and not self.calls_postgres_after(block, var.extent.end.offset):
            return
        self.report(var, "pg-local", f"{var.spelling} ({var.type.spelling}) needs a destructor, "
                                     f"which a PostgreSQL error would skip")

    def calls_postgres_after(self, block, offset):
        for c in block.walk_preorder():
            if c.kind == K.CALL_EXPR and c.extent.start.offset > offset and c.referenced is not None:
                ref = c.referenced
                if self.from_postgres(ref) and ref.spelling not in NEVER_RAISE:
                    return True
                if PG_CONTEXT in self.marked.get(ref.get_usr(), set()):
                    return True
        return False

    def is_lambda(self, cursor):
        while cursor.kind == K.UNEXPOSED_EXPR:
            children = list(cursor.get_children())
            if len(children) != 1:
                return False
            cursor = children[0]
        return cursor.kind == K.LAMBDA_EXPR

    def is_pg_call(self, call):
        ref = call.referenced
        return ref is not None and ref.spelling == "call" and qualified_name(ref) == "segmentation::glue::pg::call"

    def check_call(self, call, ctx):
        ref = call.referenced
        if not self.ours(call):
            return
        if ref is None:
            if not ctx["pg"]:
                self.report(call, "pg-call", "call through a pointer outside pg::call")
            return
        name = ref.spelling
        if name.startswith("__builtin_"):
            return
        if self.from_postgres(ref):
            if name == "ProcessInterrupts" and not ctx["boundary"]:
                self.report(call, "interrupts", "CHECK_FOR_INTERRUPTS outside the guard: call poll_interrupts()")
            elif ctx["destructor"]:
                self.report(call, "destructor", f"destructor calls PostgreSQL ({name})")
            elif not ctx["pg"] and name not in NEVER_RAISE:
                self.report(call, "pg-call", f"PostgreSQL's {name} called outside pg::call "
                                             f"(in {ctx['function'].spelling})")
            return
        m = self.marked.get(ref.get_usr(), set())
        if PG_CONTEXT in m and not ctx["pg"]:
            self.report(call, "pg-context", f"{name} (SEGMENTATION_PG_CONTEXT) called outside pg::call")

    def check_noexcept(self, function, cursor):
        for child in cursor.get_children():
            if child.kind == K.CXX_TRY_STMT and has_catch_all(child):
                continue  # what the try block throws stays inside the function
            if child.kind == K.CXX_NEW_EXPR:
                self.report(child, "noexcept", f"noexcept {function.spelling} allocates with new")
            elif child.kind == K.CALL_EXPR and self.may_throw(child.referenced):
                self.report(child, "noexcept",
                            f"noexcept {function.spelling} calls {qualified_name(child.referenced)}, which may "
                            f"throw (allocate)")
            self.check_noexcept(function, child)  # lambdas too: they run here

    def may_throw(self, callee):
        """A potentially-throwing C++ function of the standard library or of src/."""
        if callee is None or callee.kind == K.DESTRUCTOR:
            return False
        parent = callee.semantic_parent
        if parent is not None and parent.kind == K.CLASS_DECL and parent.spelling in ("", "(lambda"):
            return False  # its body is checked where it is written
        if callee.exception_specification_kind.name in NOTHROW:
            return False
        if in_namespace_std(callee):
            return callee.spelling not in STD_NEVER_THROW
        return self.ours(callee)


def parse_args(pg_dir, language="c++"):
    # The core is parsed with PostgreSQL's headers in reach too, so that
    # including one is reported as such (its build has no such path).
    return ["-x", language, "-std=c++17", "-I" + os.path.join(ROOT, "src"), "-I" + pg_dir,
            "-I" + os.path.join(os.path.dirname(pg_dir.rstrip("/")), "internal"),
            "-Wno-register", "-Wno-ignored-attributes"]


# Headers every glue file includes, parsed once into a precompiled header:
# most of the time goes into PostgreSQL's and the C++ library's headers.
PRECOMPILED = ["glue/boundary/guard.hpp", "<string>", "<vector>", "<optional>", "<memory>", "<algorithm>",
               "<unordered_map>"]


def precompile(pg_dir, directory):
    header = os.path.join(directory, "glue_prefix.hpp")
    with open(header, "w") as f:
        for h in PRECOMPILED:
            f.write(f"#include {h if h.startswith('<') else chr(34) + h + chr(34)}\n")
    tu = ci.Index.create().parse(header, args=parse_args(pg_dir, "c++-header"))
    pch = header + ".pch"
    tu.save(pch)
    return pch


def check_file(job):
    path, pg_dir, is_core, pch = job
    args = parse_args(pg_dir)
    if not is_core:  # the core's own includes are what core-include checks
        args += ["-include-pch", pch]
    tu = ci.Index.create().parse(path, args=args)
    errors = [str(d) for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
    if errors:
        return [f"{os.path.relpath(path, ROOT)}: [parse] " + e for e in errors[:5]]
    checker = Checker(path, pg_dir)
    if is_core:
        for inc in tu.get_includes():
            if os.path.realpath(inc.include.name).startswith(checker.pg_dir):
                loc = inc.location
                checker.findings.add(f"{os.path.relpath(os.path.realpath(loc.file.name), ROOT)}:{loc.line}:"
                                     f"{loc.column}: [core-include] src/core includes PostgreSQL's "
                                     f"{os.path.basename(inc.include.name)}")
                break
    checker.run(tu)
    return sorted(checker.findings)


def check(paths, pool):
    pg_dir = pg_include_dir()
    with tempfile.TemporaryDirectory() as directory:
        pch = precompile(pg_dir, directory)
        jobs = [(os.path.abspath(p), pg_dir,
                 "/src/core/" in os.path.abspath(p) or os.path.basename(p).startswith("core_"), pch)
                for p in paths]
        return sorted({f for r in pool.map(check_file, jobs) for f in r})


FINDING = re.compile(r"^([^:]+):(\d+):\d+: \[([a-z-]+)\]")
EXPECT = re.compile(r"//.*expect: ([a-z -]+)")


def self_test(pool):
    """The checker must find exactly the violations planted in the fixtures."""
    fixtures = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures")
    paths = sorted(os.path.join(fixtures, f) for f in os.listdir(fixtures) if f.endswith(".cpp"))
    expected = set()
    for path in paths:
        with open(path) as f:
            for number, line in enumerate(f, 1):
                m = EXPECT.search(line)
                for rule in m.group(1).split() if m else []:
                    expected.add((os.path.relpath(path, ROOT), number, rule))
    findings = check(paths, pool)
    found = set()
    for f in findings:
        m = FINDING.match(f)
        found.add((m.group(1), int(m.group(2)), m.group(3)) if m else (f, 0, "?"))
    missed, unexpected = expected - found, found - expected
    for name, line, rule in sorted(missed):
        print(f"{name}:{line}: self-test: expected a [{rule}] finding, got none")
    for f in findings:
        m = FINDING.match(f)
        if not m or (m.group(1), int(m.group(2)), m.group(3)) in unexpected:
            print(f"self-test: unexpected finding: {f}")
    return not missed and not unexpected and len(expected) > 0


def main(argv):
    ci.Config.set_library_file(os.environ.get("LIBCLANG", "/usr/lib/llvm-14/lib/libclang.so.1"))
    with multiprocessing.Pool() as pool:
        if not self_test(pool):
            print("check_boundary: the self-test failed: the checker itself is broken")
            return 2
        findings = check(argv[1:], pool)
    for f in findings:
        print(f)
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
