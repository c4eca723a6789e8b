"""One panic strategy for every build of the functions: SAM's (`cargo lambda build --release`
in each function's directory), compose's (Dockerfile) and the bench's."""

from __future__ import annotations

import tomllib

from conftest import ROOT


def test_the_release_profile_names_its_panic_strategy():
    # cargo-lambda compiles with panic=abort when [profile.release] names none: AWS's `email`
    # would lose a whole batch to one message's panic, and AWS's binaries would differ from
    # the ones compose runs and the bench measures.
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    assert manifest["profile"]["release"].get("panic") == "unwind"
