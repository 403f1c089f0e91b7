#!/usr/bin/python3
"""Carries a change made to the old single-file install script into
src/sql/parts/ (for merging branches that edited src/sql/segmentation--1.0.sql
before it was split). From the worktree's top directory:

  scripts/port-sql-to-parts.py BASE THEIRS

BASE is the single file the branch started from, THEIRS the branch's version,
e.g. git show $(git merge-base HEAD B):src/sql/segmentation--1.0.sql >base.sql
and git show B:src/sql/segmentation--1.0.sql >theirs.sql. Each changed run of
lines goes to the part holding those lines of BASE (a pure insertion goes
after the line before it, so a new function at the end of a section lands at
the end of that section's part). A change touching lines that are in no part
or in two parts is refused: port that one by hand. Then check:
  make -s build/sql/segmentation--1.0.sql && test/sqlcheck/check_sql.py \\
      --same-statements theirs.sql build/sql/segmentation--1.0.sql
"""
import difflib
import glob
import sys


def main(base_path, theirs_path):
    base = open(base_path, encoding='utf-8').read().splitlines(keepends=True)
    theirs = open(theirs_path, encoding='utf-8').read().splitlines(keepends=True)
    parts = {path: open(path, encoding='utf-8').read().splitlines(keepends=True)
             for path in sorted(glob.glob('src/sql/parts/*.sql'))}
    placed = [(path, index, text) for path, lines in parts.items() for index, text in enumerate(lines)]

    # Where each line of BASE is now: (part, line index), for lines found verbatim.
    where = {}
    matcher = difflib.SequenceMatcher(None, base, [text for _, _, text in placed], autojunk=False)
    for a, b, size in matcher.get_matching_blocks():
        for k in range(size):
            where[a + k] = placed[b + k][:2]
    # Lines moved between sections (the Matching banner went after the
    # private helpers): a line found once in each, then its unchanged neighbours.
    position = {(path, index): n for n, (path, index, _) in enumerate(placed)}
    taken = set(where.values())
    for i, text in enumerate(base):
        found = [n for n, (_, _, t) in enumerate(placed) if t == text]
        if i not in where and base.count(text) == 1 and len(found) == 1 and placed[found[0]][:2] not in taken:
            where[i] = placed[found[0]][:2]
            taken.add(where[i])
    grown = True
    while grown:
        grown = False
        for i in range(len(base)):
            if i in where:
                continue
            for neighbour, step in ((i - 1, 1), (i + 1, -1)):
                n = position[where[neighbour]] + step if neighbour in where else -1
                if 0 <= n < len(placed) and placed[n][2] == base[i] and placed[n][:2] not in taken \
                        and placed[n][0] == where[neighbour][0]:
                    where[i] = placed[n][:2]
                    taken.add(where[i])
                    grown = True
                    break

    edits = {path: [] for path in parts}
    refused = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, base, theirs, autojunk=False).get_opcodes():
        if tag == 'equal':
            continue
        if i2 > i1:
            spots = [where.get(i) for i in range(i1, i2)]
            ok = all(spots) and len({p for p, _ in spots}) == 1 and \
                [x for _, x in spots] == list(range(spots[0][1], spots[0][1] + len(spots)))
            target = (spots[0][0], spots[0][1], spots[-1][1] + 1) if ok else None
        else:
            # After the nearest line before it that is in a part (blank lines
            # between sections are the Makefile's, in no part).
            anchor = i1 - 1
            while anchor >= 0 and anchor not in where and not base[anchor].strip():
                anchor -= 1
            before = where.get(anchor)
            target = (before[0], before[1] + 1, before[1] + 1) if before else None
        if target is None:
            refused += 1
            print(f'port by hand: {base_path} lines {i1 + 1}-{i2} -> {theirs_path} lines {j1 + 1}-{j2}:')
            sys.stdout.writelines('  - ' + line for line in base[i1:i2])
            sys.stdout.writelines('  + ' + line for line in theirs[j1:j2])
            continue
        path, start, end = target
        edits[path].append((start, end, theirs[j1:j2]))

    for path, changes in edits.items():
        if not changes:
            continue
        lines = parts[path]
        for start, end, new in sorted(changes, key=lambda change: change[:2], reverse=True):
            lines[start:end] = new
        while lines and not lines[-1].strip():
            lines.pop()
        with open(path, 'w', encoding='utf-8') as out:
            out.writelines(lines)
        print(f'{path}: {len(changes)} change(s)')
    return 1 if refused else 0


if __name__ == '__main__':
    if len(sys.argv) != 3:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(*sys.argv[1:]))
