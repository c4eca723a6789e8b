#!/usr/bin/env python3
"""The layout rules of the README, checked (part of `make lint`):

- `sqlx` is named only under shared/src/store/ (of the crates' src/ directories);
- every functions/*/src/main.rs has at most 30 lines;
- no Rust function is longer than 60 lines, outside tests and the HTML/e-mail templates.

A function is every `fn` with a body (free, in an `impl` or `trait`, nested), from the line
of its `fn` to the line of its closing brace, and every closure outside any function (in a
`static`'s or a `const`'s initializer); tests are `#[cfg(test)]` / `#[test]` items wherever they are in a
file, and the files of `#[cfg(test)] mod x;`. Braces are matched on the code alone: comments,
strings (raw, byte, multi-line) and char literals are blanked first.

Prints each breach and exits 1 if there is any; `--report` also lists the longest functions.
"""

import bisect
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 60
MAX_MAIN_LINES = 30
# Templates: long by nature (one literal page or message each).
TEMPLATES = {"shared/src/domain/email_templates.rs", "shared/src/web/pages.rs"}

RAW_STRING = re.compile(r'[bc]?r(#*)"')
CHAR = re.compile(r"'(?:\\(?:x[0-9a-fA-F]{2}|u\{[0-9a-fA-F]{1,6}\}|.)|[^\\'\n])'")
FN = re.compile(r"\bfn\s+((?:r#)?[A-Za-z_]\w*)")
ATTRIBUTE = re.compile(r"#(!?)\s*\[")
# `#[cfg(test)]`, `#[cfg(all(test, ...))]`, `#[test]`, `#[tokio::test(...)]` (attribute text, spaces normalized)
TEST_ATTRIBUTE = re.compile(r"cfg\(\s*(test|all\((.*,)?\s*test\s*(,.*)?\))\s*\)|(\w+::)?test(\(.*\))?")
CLOSURE = re.compile(r"\|[^|{};]*\|\s*(->[^{;]*)?\{|\|\|\s*(->[^{;]*)?\{")


def is_ident(char):
    return char.isalnum() or char == "_"


def blank_literals(text):
    """`text` with every comment, string and char literal turned into spaces (newlines
    kept, so offsets and line numbers stay those of `text`): what is left is code."""
    out, i, n = list(text), 0, len(text)

    def blank(start, end):
        for k in range(start, end):
            if out[k] != "\n":
                out[k] = " "
        return end

    while i < n:
        char = text[i]
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = blank(i, n if end < 0 else end)
        elif text.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                step = text[j:j + 2]
                depth += (step == "/*") - (step == "*/")
                j += 2 if step in ("/*", "*/") else 1
            i = blank(i, j)
        elif (raw := RAW_STRING.match(text, i)) and not (i and is_ident(text[i - 1])):
            end = text.find('"' + raw.group(1), raw.end())
            i = blank(i, n if end < 0 else end + 1 + len(raw.group(1)))
        elif char == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            i = blank(i, min(j + 1, n))
        elif char == "'" and (literal := CHAR.match(text, i)):
            i = blank(i, literal.end())
        elif is_ident(char):
            while i < n and is_ident(text[i]):  # whole words: `br"` only where a word starts
                i += 1
        else:
            i += 1  # code, a lifetime's or a label's quote included
    return "".join(out)


class Source:
    """One file's code (literals blanked), its brace pairs and line numbers."""

    def __init__(self, text):
        self.code = blank_literals(text)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
        self.closing, stack = {}, []
        for i, char in enumerate(self.code):
            if char in "{([":
                stack.append(i)
            elif char in "})]" and stack:
                self.closing[stack.pop()] = i

    def line(self, offset):
        return bisect.bisect_right(self.line_starts, offset)

    def item_end(self, start):
        """Where the item or signature from `start` ends: (its body's opening brace, the
        closing one), or (None, its `;` or the enclosing block's `}`: a field, an arm); (None,
        None) at the end of the file. Parentheses and brackets are stepped over (`[u8; 4]`)."""
        i = start
        while i < len(self.code):
            char = self.code[i]
            if char in "([":
                i = self.closing.get(i, len(self.code))
            elif char == "{":
                return i, self.closing.get(i, len(self.code) - 1)
            elif char in ";}":
                return None, i
            i += 1
        return None, None

    def test_ranges(self):
        """(start, end) offsets of every test item, and the names of `#[cfg(test)] mod x;`."""
        ranges, modules = [], []
        for attr in ATTRIBUTE.finditer(self.code):
            close = self.closing.get(attr.end() - 1)
            if close is None or not TEST_ATTRIBUTE.fullmatch(" ".join(self.code[attr.end():close].split())):
                continue
            if attr.group(1):  # `#![cfg(test)]`: the enclosing module, or the whole file
                outer = [(o, c) for o, c in self.closing.items() if self.code[o] == "{" and o < attr.start() < c]
                ranges.append(max(outer) if outer else (0, len(self.code)))
                continue
            _, end = self.item_end(close + 1)
            end = len(self.code) if end is None else end
            ranges.append((attr.start(), end))
            declared = re.fullmatch(r"(?:#\s*\[[^\]]*\]\s*)*(?:pub(?:\([^)]*\))?\s+)?mod\s+(\w+)\s*;",
                                    self.code[close + 1:end + 1].strip())
            if declared:
                modules.append(declared.group(1))
        return ranges, modules


def functions(source, exempt):
    """(name, first line, length) of every fn with a body and of every closure outside the
    fns, skipping what starts inside the `exempt` ranges."""
    found, bodies = [], []
    for match in FN.finditer(source.code):
        open_brace, close = source.item_end(match.end())
        if open_brace is None or any(s <= match.start() <= e for s, e in exempt):
            continue  # a declaration (`fn f();`), or a test
        bodies.append((open_brace, close))
        first = source.line(match.start())
        found.append((f"fn {match.group(1)}", first, source.line(close) - first + 1))
    inside = [*exempt, *bodies]  # a closure in a fn is part of the fn
    for match in CLOSURE.finditer(source.code):
        open_brace = match.end() - 1
        if any(s <= open_brace <= e for s, e in inside) or open_brace not in source.closing:
            continue
        first = source.line(match.start())
        found.append(("closure", first, source.line(source.closing[open_brace]) - first + 1))
    return found


def test_module_files(rel, modules):
    """The files of `#[cfg(test)] mod x;` declared in `rel`."""
    path = Path(rel)
    directory = path.parent if path.name in ("lib.rs", "main.rs", "mod.rs") else path.with_suffix("")
    return {(directory / f"{m}{tail}").as_posix() for m in modules for tail in (".rs", "/mod.rs")}


def rust_files():
    for top in ("shared", "functions", "local/lambda-emulator"):
        for path in sorted((ROOT / top).rglob("*.rs")):
            rel = path.relative_to(ROOT).as_posix()
            if "/target/" not in rel:
                yield rel, path.read_text()


def main():
    breaches, lengths = [], []
    checked, test_files = {}, set()
    for rel, text in rust_files():
        if "sqlx" in text and "/src/" in rel and not rel.startswith("shared/src/store/"):
            breaches.append(f"{rel}: names sqlx outside shared/src/store/")
        lines = len(text.splitlines())
        if re.fullmatch(r"functions/[^/]+/src/main\.rs", rel) and lines > MAX_MAIN_LINES:
            breaches.append(f"{rel}: {lines} lines (at most {MAX_MAIN_LINES})")
        if "/tests/" in rel or "/examples/" in rel or rel.endswith("/testing.rs") or rel in TEMPLATES:
            continue
        source = Source(text)
        exempt, modules = source.test_ranges()
        test_files |= test_module_files(rel, modules)
        checked[rel] = functions(source, exempt)
    for rel, found in checked.items():
        if rel in test_files:
            continue
        for name, line, length in found:
            lengths.append((length, f"{rel}:{line} {name}"))
            if length > MAX_FUNCTION_LINES:
                breaches.append(f"{rel}:{line}: {name} has {length} lines (at most {MAX_FUNCTION_LINES})")
    if "--report" in sys.argv:
        for length, where in sorted(lengths, reverse=True)[:15]:
            print(f"{length:4} {where}")
    for breach in breaches:
        print(breach)
    print(f"check_layout: {len(breaches)} breach(es), {len(lengths)} functions checked")
    return 1 if breaches else 0


if __name__ == "__main__":
    sys.exit(main())
