"""The bench's settings: where things are, what the BENCH_* variables ask for, and the
fixed figures of the run (timeouts, sample counts, the production configuration)."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent

RELEASE = ROOT / "target" / "release"
# Where the table, bench.json and the logs go: BENCH_OUT (relative to the repository root),
# target/bench by default; `make bench-quick` uses target/bench-quick, not to overwrite a full run.
OUT_DIR = ROOT / (os.environ.get("BENCH_OUT", "").strip() or "target/bench")
EMULATOR_BINARY = RELEASE / "lambda-emulator"
NGINX_TEMPLATE = ROOT / "local" / "nginx" / "briefthreat.conf.template"
# cargo-lambda's emulator: only for the comparison rows of the floor (`make bench` passes
# its venv's; the project-local .venv otherwise).
CARGO_LAMBDA = ROOT / os.environ.get("CARGO_LAMBDA", ".venv/bin/cargo-lambda")


def env_number(key: str, default: float) -> float:
    value = os.environ.get(key, "").strip()
    return float(value) if value else default


# 8 rows x 2 connection counts x (emulator, nginx): keep the whole run near 10 minutes.
WRK_SECONDS = int(env_number("BENCH_WRK_SECONDS", 3))
WRK_WARMUP = int(env_number("BENCH_WRK_WARMUP", 1))  # 0: no wrk warm-up run (one checked request still)
WRK_RUNS = int(env_number("BENCH_WRK_RUNS", 3))
WRK_LOGIN_SECONDS = int(env_number("BENCH_WRK_LOGIN_SECONDS", 2))  # argon2-bound: fewer
# Instances per HTTP function and invocations each runs at once; unset: the emulator's defaults
# (what `make serve` and compose run).
INSTANCES = os.environ.get("BENCH_INSTANCES", "").strip()
CONCURRENCY = os.environ.get("BENCH_CONCURRENCY", "").strip()
# Functions of the bench alone (the Dockerfile leaves them out): not part of the service's memory.
BENCH_ONLY_FUNCTIONS = frozenset({"floor"})
WRK_TIMEOUT = "5s"
CONNECTIONS = (1, 16)
COLD_RUNS = int(env_number("BENCH_COLD_RUNS", 5))
LOGIN_SAMPLES = 60
LIST_SAMPLES = 20
LIST_SIZES = (100, 10_000)
EMAILS = int(env_number("BENCH_EMAILS", 10_000))
HTTP_TIMEOUT = 30.0  # seconds, every request made with `requests`
LIST_GET_TIMEOUT = 5.0  # seconds, before a list GET counts as lost
# seconds the form posts' e-mails get to go out before the next rows (the bench invokes
# `email` in its schedule's place when nothing is sending); the table says how many were
# still waiting if it runs out
EMAIL_DRAIN_TIMEOUT = 300.0
START_TIMEOUT = 60.0  # seconds, an emulator until /health answers 200 (nothing compiles)
STOP_TIMEOUT = 15.0
IDLE_SETTLE = 2.0  # seconds every instance has been up before the idle RSS is read
# The e-mail schedule (the backstop behind the Invoke after each commit): far beyond the run,
# so that only the bench's own invocations drain section f's queue.
EMAIL_SCHEDULE_SECONDS = 3600
ALONE_WARMUP = 300  # invocations of the floor function alone before sampling
ALONE_SAMPLES = int(env_number("BENCH_ALONE_SAMPLES", 5000))
# wrk sends no Accept-Encoding; every other request here says the same (identity), so that
# all figures are for uncompressed bodies unless a row says gzip.
IDENTITY = {"Accept-Encoding": "identity"}
FLOOR_PATH = "/bench/floor"
FLOOR_SECONDS = 1  # the floor run beside each run of a row
# A wrk connection idle for longer than this (and twice the p99) is flagged in the table.
IDLE_FLOOR_MS = 500.0

ROOT_PASSWORD = "bench-root-password"
# The body of root's login, as the bench and bench-compare send it.
ROOT_LOGIN = {"username": "root", "password": ROOT_PASSWORD}
RATELIMIT = "1000000/second"  # every request is counted in Redis, none refused
NOT_LAMBDAS = {"migrate", "lambda-emulator"}  # a command-line step, the self-hosted runtime
EVENT_FUNCTIONS = {"email", "cleanup"}  # invoked with `{}`, not over HTTP
UNLIMITED_ROWS = {"floor", "health"}  # no rate limit: the do-nothing function, /health

# The goal rows (issue 13): the old Flask service's figures, the targets derived from them below;
# measured side by side on a 2-vCPU machine of this kind, issue 13
OLD_WHOAMI_C16_RPS = 264
OLD_WHOAMI_C16_P99_MS = 133.0
OLD_LIST100_C16_RPS = 188
OLD_LOGIN_C16_RPS = 32
OLD_LOGIN_C16_P99_MS = 1080.0
GOAL_WHOAMI_RPS = 10 * OLD_WHOAMI_C16_RPS  # 2,640
GOAL_WHOAMI_P99_MS = OLD_WHOAMI_C16_P99_MS / 10  # 13.3 ms
GOAL_LIST100_RPS = 10 * OLD_LIST100_C16_RPS  # 1,880
GOAL_LIST100_P99_MS = 13.4
GOAL_LOGIN_RPS = 1.5 * OLD_LOGIN_C16_RPS  # 48
GOAL_LOGIN_P99_MS = OLD_LOGIN_C16_P99_MS / 2  # 540 ms
GOAL_COLD_START_MS = 20.0  # every function's median
GOAL_TREE_RSS_MIB = 110.0  # the whole self-hosted tree after the loads
GOAL_AUTH_LOGIN_RSS_MIB = 40.0  # auth-login's largest process after the loads
GOAL_HTTP_BINARY_MIB = 5.0  # every HTTP function's stripped binary
GOAL_EMAIL_BINARY_MIB = 8.0
GOAL_LIST10000_C1_P50_MS = 30.0
GOAL_LIST_GROWTH = 10.0  # 10,000 forms ÷ 100 forms, section e
