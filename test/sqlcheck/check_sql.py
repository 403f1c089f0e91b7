#!/usr/bin/python3
"""Checks the install-script rules of CONTRIBUTING.md ("SQL and security") on
SQL scripts. Run it through scripts/check-sql.sh.

  check_sql.py SCRIPT...            findings as file:line: [rule] message;
                                    exit status 1 when there is any
  check_sql.py --planted FILE       self-test: FILE marks each planted
                                    violation with "-- expect: RULE[, RULE]" on
                                    the line where its statement starts; exit status 1
                                    unless the findings are exactly those
  check_sql.py --same-statements A B
                                    exit status 0 when A and B hold the same
                                    statements in the same order, comments and
                                    layout aside (A's sections moved between
                                    parts, or a script ported to the parts)

Rules:
  guard        The first statement (comments may come before it) is psql's
               \\echo ... \\quit guard, so that feeding the script to psql
               does nothing.
  definer      A SECURITY DEFINER function pins search_path with a SET clause
               whose last entry is pg_temp (otherwise pg_temp is searched
               first and a caller's temporary objects could capture names).
  qualified    CREATE of a schema object (table, function, procedure, type,
               domain, view, sequence, aggregate, operator) names its schema;
               CREATE INDEX and CREATE TRIGGER name a qualified table; a
               trigger or event trigger executes a qualified function.
"""
import re
import sys

GUARD = re.compile(r'^\\echo .*\\quit\s*$')
DOLLAR = re.compile(r'\$([A-Za-z_][A-Za-z_0-9]*)?\$')


def statements(text):
    """Yields (line, code) per statement: code has comments removed, string
    and dollar-quoted bodies replaced by '' and $$$$ (so nothing inside them
    is mistaken for a clause), and whitespace runs collapsed. psql
    meta-commands (lines starting with a backslash) are statements of their
    own. The third item is the exact text, comments aside (--same-statements)."""
    i, n, line = 0, len(text), 1
    code, exact, start = [], [], None

    def flush():
        nonlocal code, exact, start
        joined = ' '.join(''.join(code).split())
        if joined:
            yield start, joined, ' '.join(''.join(exact).split())
        code, exact, start = [], [], None

    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == '\\' and not ''.join(code).strip():
            end = text.find('\n', i)
            end = n if end < 0 else end
            yield line, text[i:end].strip(), text[i:end].strip()
            i = end
            continue
        if c == '\n':
            line += 1
            at_line_start = True
            code.append(c)
            exact.append(c)
            i += 1
            continue
        if c.isspace():
            code.append(c)
            exact.append(c)
            i += 1
            continue
        at_line_start = False
        if text.startswith('--', i):
            end = text.find('\n', i)
            i = n if end < 0 else end
            continue
        if text.startswith('/*', i):
            end = text.find('*/', i + 2)
            end = n if end < 0 else end + 2
            line += text.count('\n', i, end)
            i = end
            continue
        if start is None:
            start = line
        if c in '\'"':
            end = i + 1
            while end < n:
                if text[end] == c and text.startswith(c * 2, end):
                    end += 2
                elif text[end] == c:
                    break
                else:
                    end += 1
            literal = text[i:end + 1]
            line += literal.count('\n')
            code.append(literal if c == '"' else "''")
            exact.append(literal)
            i = end + 1
            continue
        m = DOLLAR.match(text, i)
        if m and not (i > 0 and (text[i - 1].isalnum() or text[i - 1] == '_')):
            end = text.find(m.group(0), m.end())
            end = n if end < 0 else end + len(m.group(0))
            body = text[i:end]
            line += body.count('\n')
            code.append('$$$$')
            exact.append(body)
            i = end
            continue
        if c == ';':
            yield from flush()
            i += 1
            continue
        code.append(c)
        exact.append(c)
        i += 1
    yield from flush()


NAME = r'(?:"(?:[^"]|"")+"|[A-Za-z_][A-Za-z_0-9$]*)'
QUALIFIED = re.compile(r'^' + NAME + r'\s*\.\s*' + NAME)
SCHEMA_OBJECT = re.compile(
    r'^CREATE\s+(?:OR\s+REPLACE\s+)?(?:(?:TEMP|TEMPORARY|UNLOGGED|MATERIALIZED|RECURSIVE)\s+)*'
    r'(TABLE|FUNCTION|PROCEDURE|TYPE|DOMAIN|VIEW|SEQUENCE|AGGREGATE|OPERATOR(?!\s+(?:CLASS|FAMILY)))\s+'
    r'(?:IF\s+NOT\s+EXISTS\s+)?(\S+)', re.I)
INDEX = re.compile(r'^CREATE\s+(?:UNIQUE\s+)?INDEX\b.*?\bON\s+(?:ONLY\s+)?(\S+)', re.I)
TRIGGER = re.compile(r'^CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+)?TRIGGER\b.*?\bON\s+(\S+)', re.I)
EXECUTES = re.compile(r'^CREATE\s+(?:OR\s+REPLACE\s+)?(?:CONSTRAINT\s+|EVENT\s+)?TRIGGER\b.*'
                      r'\bEXECUTE\s+(?:FUNCTION|PROCEDURE)\s+(\S+)', re.I)
ROUTINE = re.compile(r'^CREATE\s+(?:OR\s+REPLACE\s+)?(?:FUNCTION|PROCEDURE)\b', re.I)
SEARCH_PATH = re.compile(r'\bSET\s+search_path\s*(?:=|TO)\s*(.*?)(?=\s+(?:AS|LANGUAGE|SET|SECURITY|STRICT|'
                         r'IMMUTABLE|STABLE|VOLATILE|PARALLEL|COST|ROWS|SUPPORT|RETURNS|CALLED|LEAKPROOF|'
                         r'WINDOW|EXTERNAL|NOT|TRANSFORM)\b|$)', re.I)


def check(path):
    text = open(path, encoding='utf-8').read()
    found = []
    for index, (line, code, _) in enumerate(statements(text)):
        if index == 0 and not GUARD.match(code):
            found.append((line, 'guard', 'the first statement must be \\echo Use "CREATE EXTENSION ..." ... \\quit'))
        m = SCHEMA_OBJECT.match(code)
        if m and not QUALIFIED.match(m.group(2)):
            found.append((line, 'qualified', f'CREATE {m.group(1).upper()} {m.group(2)}: name its schema'))
        for pattern, what in ((INDEX, 'index'), (TRIGGER, 'trigger')):
            m = pattern.match(code)
            if m and not QUALIFIED.match(m.group(1)):
                found.append((line, 'qualified', f'CREATE {what.upper()} ... ON {m.group(1)}: name its schema'))
        m = EXECUTES.match(code)
        if m and not QUALIFIED.match(m.group(1)):
            found.append((line, 'qualified', f'EXECUTE FUNCTION {m.group(1)}: name its schema'))
        if ROUTINE.match(code) and re.search(r'\bSECURITY\s+DEFINER\b', code, re.I):
            path_clause = SEARCH_PATH.search(code)
            entries = [e.strip().strip('"').lower() for e in path_clause.group(1).split(',')] if path_clause else []
            if not entries or entries[-1] != 'pg_temp':
                found.append((line, 'definer',
                              'SECURITY DEFINER function without SET search_path = ..., pg_temp (pg_temp last)'))
    return found


def main(argv):
    if len(argv) == 3 and argv[0] == '--same-statements':
        a, b = ([exact for _, _, exact in statements(open(p, encoding='utf-8').read())] for p in argv[1:])
        for index, (x, y) in enumerate(zip(a, b)):
            if x != y:
                print(f'statement {index + 1} differs:\n  {argv[1]}: {x[:300]}\n  {argv[2]}: {y[:300]}')
                return 1
        if len(a) != len(b):
            print(f'{argv[1]} has {len(a)} statements, {argv[2]} has {len(b)}')
            return 1
        print(f'same {len(a)} statements in the same order')
        return 0
    if len(argv) == 2 and argv[0] == '--planted':
        path = argv[1]
        expected = set()
        for number, text in enumerate(open(path, encoding='utf-8'), 1):
            for rules in re.findall(r'-- expect: ([\w, ]+)', text):
                expected.update((number, rule.strip()) for rule in rules.split(','))
        actual = {(line, rule) for line, rule, _ in check(path)}
        for line, rule in sorted(expected - actual):
            print(f'{path}:{line}: planted [{rule}] not found')
        for line, rule in sorted(actual - expected):
            print(f'{path}:{line}: [{rule}] found where nothing is planted')
        return 0 if expected == actual and expected else 1
    if not argv or argv[0].startswith('--'):
        print(__doc__)
        return 2
    status = 0
    for path in argv:
        for line, rule, message in check(path):
            print(f'{path}:{line}: [{rule}] {message}')
            status = 1
    return status


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
