"""`make size-copies FUNCTION=<name>`: how much of a function's machine code is a second
(third...) copy of a function compiled by another crate. The binary is built unstripped with
v0 symbol names, which end with the crate that compiled each copy; copies share a demangled
name. Prints the text size, the bytes beyond one copy of each, and by which crates."""

from __future__ import annotations

import collections
import re
import subprocess
import sys

# `_R...C<disambiguator>_<len><crate>` at the end of a v0 name: the instantiating crate;
# a back-reference (`B..._`) there means the crate that defines the item.
INSTANTIATING = re.compile(r"C(?:s[0-9A-Za-z]*_)?(\d+)")


def instantiating_crate(mangled: str) -> str:
    for m in INSTANTIATING.finditer(mangled):
        tail = mangled[m.end():]
        if len(tail) == int(m.group(1)) and re.fullmatch(r"[A-Za-z_]\w*", tail):
            return tail
    return "(its own crate)" if re.search(r"B[0-9A-Za-z]*_$", mangled) else "(no v0 name)"


def main(binary: str) -> int:
    nm = subprocess.run(["nm", "--size-sort", "-S", binary], check=True, capture_output=True, text=True).stdout
    symbols = [(int(size, 16), name) for _, size, kind, name in
               (line.split() for line in nm.splitlines() if len(line.split()) == 4) if kind in "tT"]
    demangled = subprocess.run(["c++filt"], input="\n".join(n for _, n in symbols), check=True,
                               capture_output=True, text=True).stdout.splitlines()
    copies: dict[str, list[tuple[int, str]]] = collections.defaultdict(list)
    for (size, mangled), name in zip(symbols, demangled):
        copies[re.sub(r"\[[0-9a-f]{16}\]", "", name)].append((size, instantiating_crate(mangled)))
    text = sum(size for size, _ in symbols)
    extra = 0
    by_crate: collections.Counter[str] = collections.Counter()
    largest = []
    for name, found in copies.items():
        if len(found) > 1:
            beyond_one = sum(s for s, _ in found) - max(s for s, _ in found)
            extra += beyond_one
            largest.append((beyond_one, len(found), name))
            for size, crate in found:
                by_crate[crate] += size
    print(f"{binary}: {text:,} bytes of functions; {extra:,} of them are copies beyond the first")
    print("bytes in functions compiled more than once, by the crate that compiled the copy:")
    for crate, size in by_crate.most_common(10):
        print(f"  {size:>9,}  {crate}")
    print("largest:")
    for beyond_one, count, name in sorted(largest, reverse=True)[:15]:
        print(f"  {beyond_one:>9,}  {count}x {name[:140]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
