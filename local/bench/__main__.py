"""`make bench`: size, cold start, warm latency and throughput of the functions.

    make bench                                   # everything, what README.md shows
    .venv/bin/python local/harness.py -- .venv/bin/python -m local.bench   # from the repository root

Runs under local/harness.py (throwaway MariaDB and Redis: TEST_MYSQL_ADMIN_URL,
TEST_REDIS_URL) against release binaries that are already built
(the Makefile's RELEASE_BUILD, as SAM builds them, and
`cargo build --release -p shared --examples`; `make bench` does both), so that
nothing compiles while a clock runs. All load stays on loopback and is bounded in count
and time. Sections:

  a  size of each release binary (stripped by the release profile) and of the zip that
     Lambda is given (the binary as `bootstrap`, deflate level 9)
  b  cold start of each function, started directly against a minimal Lambda Runtime API
     served from this process: process start -> the response POST, median of
     BENCH_COLD_RUNS (5); peak RSS (VmHWM) just before the process is killed
  c  warm latency and throughput through the project's emulator
     (`target/release/lambda-emulator --no-migrate`, local/lambda-emulator: API Gateway and
     the Lambda service, its default instances per function and invocations at once per
     instance), with wrk at 1 and 16 connections, each row twice: straight to the emulator
     (HTTP) and through nginx in front of it (HTTPS; local/nginx/briefthreat.conf.template
     rendered by local/render_nginx.py, a throwaway self-signed certificate). Each:
     BENCH_WRK_WARMUP s (1) of warm-up, then the median of BENCH_WRK_RUNS (3) runs of
     BENCH_WRK_SECONDS s (3). The floor rows also run through `cargo lambda watch
     --only-lambda-apis` (cargo-lambda's emulator, the runtime this one replaced, with one
     `floor` process started here against its Runtime API), and the floor function alone
     against a minimal Runtime API in this process: what the emulator adds. The emulator's
     RSS when idle and the service's process tree after the loads (c-f; without the
     bench's own `floor`, which the Dockerfile leaves out)
  d  login timing: unknown user vs known user with a wrong password, 60 each, interleaved
  e  list growth: GET /api/v1/form as admin at 100 and at 10,000 forms, median of 20
  f  e-mail throughput: BENCH_EMAILS (10,000) messages queued by SQL (no commit of an API
     function, so nothing invokes `email` by itself; its schedule is set to an hour) and
     delivered by invoking `email` through the emulator's Invoke API over SMTP to an
     aiosmtpd sink in this process (tests/smtp_sink.py's SmtpSink: it parses each message as
     it arrives), with the CPU time the `email` instance and the sink spent on them
  g  argon2: `shared/examples/argon2_timing.rs`

Everything runs the production code path: FLASK_ENV=production with Redis, so every
rate-limited request pays its Redis check; RATELIMIT_DEFAULT=1000000/second refuses none.

After g, the goal rows (section `goal`, issue 13): each goal's figure from the sections above
beside its target (config.py: the old service's figures), met / missed / not measured.

Prints progress on stderr, then ONE table on stdout; writes target/bench/bench.txt (the
table) and target/bench/bench.json (the table and every raw figure), or the same under
BENCH_OUT (`make bench-quick`: target/bench-quick). Uses the project
venv's packages (requests, pymysql, aiosmtpd, cargo-lambda for the comparison rows) and the
standard library. This module runs the sections in order; local/bench/__init__.py lists
the modules that do the work.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from contextlib import ExitStack
from pathlib import Path

from conftest import create_mysql_database, drop_mysql_database, free_port
from smtp_sink import SmtpSink
from .argon2 import section_argon2
from .cold_start import section_cold_starts
from .config import BENCH_ONLY_FUNCTIONS, EVENT_FUNCTIONS, NOT_LAMBDAS, OUT_DIR
from .email_drain import section_email
from .emulator import Emulator
from .environment import bench_env, migrate_database, preflight, run_meta
from .figures import fmt_ms
from .login_timing import section_login_timing
from .notes import notes
from .procs import tree_memory
from .runlog import ANOMALIES, SECTION_SECONDS, STARTED, BenchError, log, mark_section
from .section_c import section_c
from .sizes import section_sizes
from .table import build_table
from .workspace import binary_stamps, http_routes, workspace_binaries


def interrupted(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


def after_loads(results: dict, emu: Emulator) -> None:
    """The whole tree's memory after the loads of c-f, and every error the run counted."""
    loaded = results["memory"]["after_loads"] = tree_memory(emu.proc.pid, BENCH_ONLY_FUNCTIONS)
    log(f"   RSS after the loads: service {loaded['service_rss_kib'] / 1024:.1f} MiB over {loaded['service_processes']} "
        f"processes, whole tree {loaded['rss_kib'] / 1024:.1f} MiB over {loaded['processes']} "
        f"(PSS {(loaded['pss_kib'] or 0) / 1024:.1f} MiB), emulator {loaded['root_rss_kib'] / 1024:.1f} MiB")
    ours = [w for w in results["warm"] if w["via"] != "cargo-lambda"]
    results["errors"] = {
        "wrk_requests": sum(w["requests"] for w in ours),
        "wrk_timeouts": sum(w["timeouts"] for w in ours),
        "wrk_socket_errors": sum(w["socket_errors"] for w in ours),
        "wrk_non_2xx": sum(w["non_2xx"] for w in ours),
        "wrk_floor_runs_errors": sum(w["floor_errors"] for w in ours),
        "anomalies": len(ANOMALIES),
        "anomalies_list": ANOMALIES,
        "emulator": emu.health_report(),
    }


def run_sections(results: dict, cleanup: ExitStack, admin_url: str, redis_url: str, sink: SmtpSink,
                 tmp: Path) -> dict:
    """Every section, in order, into `results`; the release binaries' stamps at the start."""
    binaries = workspace_binaries()
    stamps = binary_stamps(binaries)
    routes = http_routes()
    results["sizes"] = section_sizes(binaries)
    results["argon2"] = section_argon2()
    log(f"   argon2: median {fmt_ms(results['argon2']['median_ms'])}, p90 {fmt_ms(results['argon2']['p90_ms'])}")
    mark_section("a, g")

    # The bench database (dropped by `cleanup` after the fronts have stopped), migrated by
    # the release `migrate`; one configuration for all.
    database, db_url = create_mysql_database(admin_url, "bt_bench")
    cleanup.callback(drop_mysql_database, admin_url, database)
    port = free_port()
    data_dir = tmp / "data"
    data_dir.mkdir()
    env = bench_env(db_url, redis_url, port, data_dir, sink.port)
    migrate_database(database, env)
    lambdas = [b for b in binaries if b not in NOT_LAMBDAS]
    missing = [f for f in lambdas if f not in routes and f not in EVENT_FUNCTIONS]
    if missing:
        raise BenchError(f"no route for {missing} in Cargo.toml's router")
    results["cold_starts"] = section_cold_starts(lambdas, routes, env, tmp)
    mark_section("b")

    served = [f for f in lambdas if f in routes or f in EVENT_FUNCTIONS]
    emu, list_growth = section_c(results, cleanup, env, port, served, tmp, db_url, redis_url, sink)
    results["login_timing"] = section_login_timing(emu)
    mark_section("d")
    results["list_growth"] = {
        "sizes": list_growth,
        "ratio": list_growth[-1]["median_ms"] / list_growth[0]["median_ms"],
    }
    results["email"] = section_email(emu, db_url, sink)
    mark_section("f")
    after_loads(results, emu)
    return stamps


def finish(results: dict, stamps: dict) -> int:
    """The closing facts, then the table and notes on stdout, target/bench/bench.txt and
    bench.json; 1 when section f's sink did not get exactly the queued messages."""
    meta = results["meta"]
    meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    # A build elsewhere (the tree is shared) may have replaced binaries while the clocks ran.
    changed = sorted(name for name, stamp in binary_stamps(list(stamps)).items() if stamp != stamps[name])
    meta["binaries_changed_during_run"] = changed
    if changed:
        log(f"WARNING: {changed} changed on disk during the run (a build elsewhere): the figures mix builds")
    meta["total_seconds"] = time.monotonic() - STARTED
    meta["section_seconds"] = SECTION_SECONDS
    table = build_table(results)
    text = table + "\n\n" + notes(results) + "\n"
    results["table"] = table
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "bench.txt").write_text(text)
    (OUT_DIR / "bench.json").write_text(json.dumps(results, indent=2) + "\n")
    print(text, flush=True)
    log(f"written {OUT_DIR / 'bench.txt'} and {OUT_DIR / 'bench.json'}")
    if not results["email"]["exact"]:
        log("e-mail check FAILED: the sink did not get exactly the queued messages")
        return 1
    return 0


def main() -> int:
    # local/harness.py forwards SIGTERM: leave through the cleanup below.
    signal.signal(signal.SIGTERM, interrupted)
    urls = preflight()
    if urls is None:
        return 2
    admin_url, redis_url = urls
    results: dict = {"meta": run_meta()}
    # Logs of this run (cold starts, the emulator, cargo-lambda, nginx, wrk scripts) stay for inspection.
    tmp = OUT_DIR / "logs"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    sink = SmtpSink(free_port())
    sink.start()
    with ExitStack() as cleanup:  # unwinds last in, first out: the fronts, the database, the sink
        cleanup.callback(sink.stop)
        try:
            stamps = run_sections(results, cleanup, admin_url, redis_url, sink, tmp)
        except BenchError as e:
            log(f"FAILED: {e}")
            return 1
    return finish(results, stamps)


if __name__ == "__main__":
    sys.exit(main())
