"""The workspace as built: its binaries (cargo metadata), the route table in Cargo.toml,
the release binaries' stamps on disk, and the versions of the tools the bench runs."""

from __future__ import annotations

import json
import subprocess
import tomllib

from .config import RELEASE, ROOT


def workspace_binaries() -> list[str]:
    meta = json.loads(subprocess.run(
        ["cargo", "metadata", "--no-deps", "--format-version", "1"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout)
    return sorted(
        target["name"]
        for package in meta["packages"]
        for target in package["targets"]
        if "bin" in target["kind"]
    )


def http_routes() -> dict[str, str]:
    """Function -> one path that `cargo lambda watch` routes to it (Cargo.toml's router)."""
    router = tomllib.loads((ROOT / "Cargo.toml").read_text())["workspace"]["metadata"]["lambda"]["watch"]["router"]
    routes: dict[str, str] = {}
    for path, function in router.items():
        if path.startswith("//"):
            continue
        if "{" in path:
            path = "/no-such-page"  # the catch-all
        routes.setdefault(function, path)
    return routes


def binary_stamps(names: list[str]) -> dict[str, tuple[int, int]]:
    """(mtime, size) of each release binary: a build elsewhere during the run changes them."""
    stamps = {}
    for name in names:
        try:
            st = (RELEASE / name).stat()
            stamps[name] = (st.st_mtime_ns, st.st_size)
        except OSError:
            stamps[name] = (0, 0)
    return stamps


def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"
