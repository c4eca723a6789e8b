"""Section a: the size of each release binary (stripped by the release profile) and of the
zip Lambda is given (the binary as `bootstrap`, deflate level 9)."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

from .config import NOT_LAMBDAS, RELEASE
from .runlog import BenchError, log


def section_sizes(binaries: list[str]) -> list[dict]:
    log("a. binary sizes (release as deployed: no SQLite, stripped) and Lambda zips (bootstrap, deflate 9)")
    results = []
    with tempfile.TemporaryDirectory(prefix="bt-bench-zip-") as tmp:
        for name in binaries:
            binary = RELEASE / name
            if not binary.exists():
                raise BenchError(f"{binary} missing: run make bench, which builds the release binaries (its RELEASE_BUILD)")
            archive = Path(tmp) / f"{name}.zip"
            with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
                zf.write(binary, arcname="bootstrap")
            results.append({
                "function": name,
                "binary_bytes": binary.stat().st_size,
                "zip_bytes": archive.stat().st_size,
                "lambda": name not in NOT_LAMBDAS,
            })
    return results
