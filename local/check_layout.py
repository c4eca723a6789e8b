#!/usr/bin/env python3
"""The layout rules of the README, checked (part of `make lint`):

- `sqlx` is named only under shared/src/store/;
- every functions/*/src/main.rs has at most 30 lines;
- no Rust function is longer than 60 lines, outside tests and the HTML/e-mail templates.

Prints each breach and exits 1 if there is any; `--report` also lists the longest functions.
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 60
MAX_MAIN_LINES = 30
# Templates: long by nature (one literal page or message each).
TEMPLATES = {"shared/src/domain/email_templates.rs", "shared/src/web/pages.rs"}
FN_START = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?(const\s+)?(async\s+)?(unsafe\s+)?fn\s+(\w+)")


def rust_files():
    for top in ("shared", "functions", "local/lambda-emulator"):
        for path in sorted((ROOT / top).rglob("*.rs")):
            rel = path.relative_to(ROOT).as_posix()
            if "/target/" not in rel:
                yield rel, path.read_text().splitlines()


def test_region_start(lines):
    """The line where a file's `#[cfg(test)]` module starts (tests are exempt)."""
    for i, line in enumerate(lines):
        if line.strip() == "#[cfg(test)]":
            return i
    return len(lines)


def functions(lines, end):
    """(name, first line, length) of each fn before `end`, by brace matching."""
    i = 0
    while i < end:
        match = FN_START.match(lines[i])
        if not match:
            i += 1
            continue
        depth, started, j = 0, False, i
        while j < len(lines):
            code = re.sub(r"'(\\.|[^'\\])'", "''", lines[j].split("//")[0])
            code = re.sub(r'"(\\.|[^"\\])*"', '""', code)
            depth += code.count("{") - code.count("}")
            started = started or "{" in code
            if started and depth <= 0 or (not started and code.rstrip().endswith(";")):
                break
            j += 1
        yield match.group(6), i + 1, j - i + 1
        i = j + 1


def main():
    breaches, lengths = [], []
    for rel, lines in rust_files():
        is_test = "/tests/" in rel or "/examples/" in rel or rel.endswith("/testing.rs")
        if "sqlx" in "\n".join(lines) and rel.startswith("shared/src/") and not rel.startswith("shared/src/store/"):
            breaches.append(f"{rel}: names sqlx outside shared/src/store/")
        if re.fullmatch(r"functions/[^/]+/src/main\.rs", rel) and len(lines) > MAX_MAIN_LINES:
            breaches.append(f"{rel}: {len(lines)} lines (at most {MAX_MAIN_LINES})")
        if is_test or rel in TEMPLATES:
            continue
        for name, line, length in functions(lines, test_region_start(lines)):
            lengths.append((length, f"{rel}:{line} {name}"))
            if length > MAX_FUNCTION_LINES:
                breaches.append(f"{rel}:{line}: fn {name} has {length} lines (at most {MAX_FUNCTION_LINES})")
    if "--report" in sys.argv:
        for length, where in sorted(lengths, reverse=True)[:15]:
            print(f"{length:4} {where}")
    for breach in breaches:
        print(breach)
    print(f"check_layout: {len(breaches)} breach(es), {len(lengths)} functions checked")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
