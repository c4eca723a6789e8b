#!/usr/bin/env python3
"""Serves prebuilt function binaries behind cargo-lambda's Lambda emulator: the compose
`functions` service and the end-to-end test (`make e2e`) both run this.

    python3 local/serve_functions.py --bin-dir target/release [--address 0.0.0.0] [--port 9000]

1. runs `<bin-dir>/migrate`, retrying while the database is still starting;
2. starts `cargo lambda watch --only-lambda-apis` (from the repository root, whose
   Cargo.toml holds the route table): the HTTP router and the Lambda runtime APIs, with
   nothing compiled;
3. starts every function binary (`--instances` processes of each) against its runtime
   API, restarting any that exits, with a growing pause;
4. on SIGTERM/SIGINT stops everything; if the emulator dies, stops and exits 1.

Configuration reaches the functions through the environment (and the .env they read).
cargo-lambda comes from $CARGO_LAMBDA, else PATH. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# One-shot or benchmark-only binaries: never served.
NOT_SERVED = {"migrate", "floor"}
MIGRATE_PATIENCE = 120  # seconds the database may take to come up (compose first start)


def log(message: str) -> None:
    print(f"[serve_functions] {message}", file=sys.stderr, flush=True)


def function_names() -> list[str]:
    names = []
    for manifest in sorted((ROOT / "functions").glob("*/Cargo.toml")):
        name = tomllib.loads(manifest.read_text())["package"]["name"]
        if name not in NOT_SERVED:
            names.append(name)
    return names


def migrate(bin_dir: Path, env: dict) -> None:
    deadline = time.monotonic() + MIGRATE_PATIENCE
    while True:
        result = subprocess.run([str(bin_dir / "migrate")], env=env, capture_output=True, text=True)
        if result.returncode == 0:
            log("database migrated")
            return
        if time.monotonic() > deadline:
            sys.stderr.write(result.stdout + result.stderr)
            raise SystemExit(f"[serve_functions] migrate kept failing for {MIGRATE_PATIENCE}s")
        log(f"migrate failed ({(result.stderr or result.stdout).strip()[-200:]}); retrying in 2 s")
        time.sleep(2)


def wait_for_port(host: str, port: int, emulator: subprocess.Popen, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if emulator.poll() is not None:
            raise SystemExit(f"[serve_functions] the emulator exited with {emulator.returncode}")
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"[serve_functions] the emulator did not listen on {host}:{port} in {seconds}s")


class Function:
    """One function process, restarted when it exits (a crash, or a config error the
    operator is about to fix), at most once per `pause` seconds, which grows to 30."""

    def __init__(self, name: str, binary: Path, env: dict):
        self.name, self.binary, self.env = name, binary, env
        self.proc: subprocess.Popen | None = None
        self.pause = 1.0
        self.restart_at = 0.0

    def start(self) -> None:
        self.proc = subprocess.Popen([str(self.binary)], env=self.env, stdin=subprocess.DEVNULL)
        self.started = time.monotonic()

    def check(self) -> None:
        if self.proc is None or self.proc.poll() is None:
            return
        now = time.monotonic()
        if self.restart_at == 0.0:
            ran = now - self.started
            self.pause = 1.0 if ran > 60 else min(self.pause * 2, 30.0)
            log(f"{self.name} exited with {self.proc.returncode}; restarting in {self.pause:.0f} s")
            self.restart_at = now + self.pause
        elif now >= self.restart_at:
            self.restart_at = 0.0
            self.start()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", required=True, type=Path, help="directory of the built binaries")
    parser.add_argument("--address", default="127.0.0.1", help="where the emulator listens")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--instances", type=int, default=1, help="processes per function")
    parser.add_argument("--skip-migrate", action="store_true")
    args = parser.parse_args()
    bin_dir = args.bin_dir.resolve()
    cargo_lambda = os.environ.get("CARGO_LAMBDA") or "cargo-lambda"

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    env = dict(os.environ)
    if not args.skip_migrate:
        migrate(bin_dir, env)

    # cargo-lambda logs its whole configuration at RUST_LOG=info: the functions get RUST_LOG.
    emulator_env = {k: v for k, v in env.items() if k != "RUST_LOG"}
    emulator_env.setdefault("CARGO_NET_OFFLINE", "true")  # `cargo metadata` only; no fetching
    emulator = subprocess.Popen(
        [cargo_lambda, "lambda", "watch", "--only-lambda-apis", "-A", args.address, "-P", str(args.port)],
        cwd=ROOT, env=emulator_env, stdin=subprocess.DEVNULL, start_new_session=True,
    )
    local = "127.0.0.1" if args.address in ("0.0.0.0", "::") else args.address
    wait_for_port(local, args.port, emulator)

    functions = []
    for name in function_names():
        binary = bin_dir / name
        if not binary.exists():
            log(f"{binary} is missing; build it first")
            emulator.terminate()
            return 1
        function_env = {
            **env,
            "AWS_LAMBDA_RUNTIME_API": f"http://{local}:{args.port}/.rt/{name}",
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_VERSION": "1",
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
            # migrated above (or by whoever passed --skip-migrate)
            "MIGRATE_ON_START": "false",
        }
        functions += [Function(name, binary, function_env) for _ in range(args.instances)]
    for function in functions:
        function.start()
    log(f"serving {len(functions)} function processes on http://{args.address}:{args.port}")

    code = 0
    while not stopping:
        if emulator.poll() is not None:
            log(f"the emulator exited with {emulator.returncode}")
            code = 1
            break
        for function in functions:
            function.check()
        time.sleep(0.2)

    for function in functions:
        function.stop()
    if emulator.poll() is None:
        os.killpg(emulator.pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    for proc in [f.proc for f in functions if f.proc] + [emulator]:
        try:
            proc.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
    return code


if __name__ == "__main__":
    sys.exit(main())
