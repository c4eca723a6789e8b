"""One set of release settings for every build of the functions: SAM's (`cargo lambda build
--release` in each function's directory), compose's (Dockerfile) and the bench's."""

from __future__ import annotations

import tomllib

from conftest import ROOT


def test_the_release_profile_names_its_panic_strategy():
    # cargo-lambda compiles with panic=abort when [profile.release] names none, which would
    # make AWS's `email` lose a whole batch to one message's panic (and AWS's binaries differ
    # from the ones compose runs and the bench measures).
    manifest = tomllib.loads((ROOT / "Cargo.toml").read_text())
    assert manifest["profile"]["release"].get("panic") == "unwind"


def test_the_cargo_configuration_reaches_every_build():
    config = tomllib.loads((ROOT / ".cargo" / "config.toml").read_text())
    # cargo-lambda adds its `target-cpu` to build.rustflags; only an array is merged with it.
    assert isinstance(config["build"]["rustflags"], list)
    # The image's build context is a whitelist: without .cargo, compose would build the
    # functions with other flags than SAM and the bench.
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()]
    assert "*" in patterns
    assert "!.cargo" in patterns
