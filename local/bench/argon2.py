"""Section g: one argon2 hash at the configured parameters, timed by the release example
`shared/examples/argon2_timing.rs`."""

from __future__ import annotations

import json
import subprocess

from .config import RELEASE
from .runlog import BenchError, log


def section_argon2() -> dict:
    log("g. argon2 timing (release example)")
    example = RELEASE / "examples" / "argon2_timing"
    if not example.exists():
        raise BenchError(f"{example} missing: run `cargo build --release -p shared --examples` (make bench does)")
    out = subprocess.run([str(example)], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])
