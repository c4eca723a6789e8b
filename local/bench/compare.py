"""`make bench-compare OLD=<revision>`: the warm read rows of section c, its logins and its
form posts for an earlier revision's release binaries and this checkout's, side by side in
one run.

    .venv/bin/python local/harness.py -- .venv/bin/python -m local.bench.compare OLD_BIN_DIR

Both sets run at once, each under its own emulator (the emulator of its revision, with its
defaults), against one database migrated by this checkout's `migrate` and seeded by SQL
as section c seeds it. The functions do not migrate on start (`MIGRATE_ON_START=false`: an
older revision's migrator refuses a schema with migrations it does not know), so an older
revision runs over this one's schema, as long as its statements still run on it (a table
added is fine). Every row alternates the two sides run by run (which goes first swaps each
run) so that neither gets the quieter moments. Reads and logins first, the form posts last:
writes change what the next row lists. Besides wrk's figures, each run's CPU time per
request: of the side's whole tree (its emulator and function processes) and of MariaDB,
read from /proc around the run. The runs do not overlap, so MariaDB's time in a run is that
side's. CPU time moves less with the VM's speed than req/s does. Prints one Markdown table
on stdout and writes it, with every run's figures, to target/bench-compare/.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests

from conftest import create_mysql_database, drop_mysql_database, free_port, launch_emulator, stop_server
from smtp_sink import SmtpSink
from .config import EMAIL_SCHEDULE_SECONDS, RELEASE, ROOT, ROOT_LOGIN, START_TIMEOUT, WRK_RUNS, WRK_SECONDS
from .environment import bench_env, migrate_database
from .figures import fmt_ms, fmt_rate, median
from .procs import comm, cpu_seconds, process_tree
from .runlog import BenchError, log
from .section_c import root_token
from .seed import add_bench_user, add_forms
from .wrk import lua_script, summary, wrk

OUT_DIR = ROOT / "target" / "bench-compare"

LOGIN = json.dumps(ROOT_LOGIN)

FORM = json.dumps({"time": int(time.time()), "customer_name": "Bench Customer", "course": "Benchmarking 101",
                   "payment_method": "cash", "amount": "123.45", "receipt": "R-bench"})
JSON = {"Content-Type": "application/json"}

# (forms in the database, row name, method, path, connections, extra headers, body, as root:
# with root's token). A login writes nothing: the list rows after it are unchanged. The form
# posts write, so they come last.
ROWS = [
    (100, "GET /api/v1/auth/login (whoami, root) c16", "GET", "/api/v1/auth/login", 16, {}, None, True),
    (100, "POST /api/v1/auth/login (200) c16", "POST", "/api/v1/auth/login", 16, JSON, LOGIN, False),
    (100, "GET /api/v1/form (100 forms) c1", "GET", "/api/v1/form", 1, {}, None, True),
    (100, "GET /api/v1/form (100 forms) c16", "GET", "/api/v1/form", 16, {}, None, True),
    (10_000, "GET /api/v1/form (10,000 forms) c1", "GET", "/api/v1/form", 1, {}, None, True),
    (10_000, "GET /api/v1/form (10,000 forms) c16", "GET", "/api/v1/form", 16, {}, None, True),
    (10_000, "GET /api/v1/form (10,000 forms, gzip) c1", "GET", "/api/v1/form", 1,
     {"Accept-Encoding": "gzip"}, None, True),
    (10_000, "GET /api/v1/form (10,000 forms, gzip) c16", "GET", "/api/v1/form", 16,
     {"Accept-Encoding": "gzip"}, None, True),
    (10_000, "POST /api/v1/form c16", "POST", "/api/v1/form", 16, JSON, FORM, True),
]


def start_side(bin_dir: Path, env: dict, log_path: Path, cleanup: ExitStack) -> tuple[str, int]:
    """One revision's emulator over its binaries, ready: its public base URL and its pid."""
    port = free_port()
    try:
        proc, _ = launch_emulator(bin_dir, port, env, log_path)
    except RuntimeError as e:
        raise BenchError(f"{bin_dir}: {e}") from None
    cleanup.callback(stop_server, proc)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        try:
            if requests.get(base + "/health", timeout=5).status_code == 200:
                return base, proc.pid
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise BenchError(f"{bin_dir}: /health did not answer 200 within {START_TIMEOUT:.0f} s")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time so far of `pid` and every process below it (an instance that exited
    meanwhile is missing from the second reading: its row would read low, never high)."""
    return sum(cpu_seconds(p) or 0.0 for p in process_tree(pid))


def mariadb_cpu_seconds() -> float:
    """CPU time so far of every `mariadbd` on the machine (the harness starts one)."""
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return sum(cpu_seconds(p) or 0.0 for p in pids if comm(p) == "mariadbd")


def measure(sides: dict, script: Path, name: str, path: str, connections: int) -> dict:
    """WRK_RUNS runs of WRK_SECONDS per side after a 1 s warm-up, the sides alternating;
    each with the CPU µs per request of the side's tree and of MariaDB."""
    for base, _ in sides.values():
        wrk(base + path, connections, 1, script)
    runs: dict[str, list] = {side: [] for side in sides}
    for i in range(WRK_RUNS):
        order = list(sides) if i % 2 == 0 else list(sides)[::-1]
        for side in order:
            base, pid = sides[side]
            tree, db = tree_cpu_seconds(pid), mariadb_cpu_seconds()
            result = wrk(base + path, connections, WRK_SECONDS, script)
            tree, db = tree_cpu_seconds(pid) - tree, mariadb_cpu_seconds() - db
            result.pop("raw", None)
            answered = result["requests"] or 1
            result["service_cpu_us"] = tree * 1e6 / answered
            result["mariadb_cpu_us"] = db * 1e6 / answered
            runs[side].append(result)
    row = {"row": name, "runs": runs}
    for side, results in runs.items():
        row[side] = summary(results)
        for key in ("service_cpu_us", "mariadb_cpu_us"):
            row[side][key] = median([r[key] for r in results])
    log(f"   {name}: old {fmt_rate(row['old']['rps'])} req/s, new {fmt_rate(row['new']['rps'])} req/s")
    return row


def table(rows: list[dict], old_bin_dir: Path) -> str:
    lines = [
        "| measurement | old req/s | new req/s | new ÷ old | old p50 | new p50 | old p99 | new p99 | "
        "CPU µs/req old / new: service | MariaDB | errors old / new |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        old, new = r["old"], r["new"]
        ratio = f"{new['rps'] / old['rps']:.2f}×" if old["rps"] and new["rps"] else "-"
        lines.append(f"| {r['row']} | {fmt_rate(old['rps'])} | {fmt_rate(new['rps'])} | {ratio} | "
                     f"{fmt_ms(old['p50_ms'])} | {fmt_ms(new['p50_ms'])} | {fmt_ms(old['p99_ms'])} | "
                     f"{fmt_ms(new['p99_ms'])} | {old['service_cpu_us']:,.0f} / {new['service_cpu_us']:,.0f} | "
                     f"{old['mariadb_cpu_us']:,.0f} / {new['mariadb_cpu_us']:,.0f} | "
                     f"{old['errors']} / {new['errors']} |")
    lines.append("")
    lines.append(f"old: {old_bin_dir}; new: {RELEASE}; each under its own lambda-emulator with its defaults; "
                 f"wrk -t1 -c1 / -t2 -c16, 1 s warm-up, median of {WRK_RUNS} runs of {WRK_SECONDS} s, "
                 "the sides alternating; CPU: medians of the runs' CPU time per answered request "
                 "(/proc: utime + stime), the side's emulator and functions (service) and mariadbd.")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    old_bin_dir = Path(argv[0]).resolve()
    admin_url, redis_url = os.environ["TEST_MYSQL_ADMIN_URL"], os.environ["TEST_REDIS_URL"]
    rows = []
    with ExitStack() as cleanup, tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        sink = SmtpSink(free_port())
        sink.start()
        cleanup.callback(sink.stop)
        database, db_url = create_mysql_database(admin_url, "bt_compare")
        cleanup.callback(drop_mysql_database, admin_url, database)
        (tmp / "data").mkdir()
        env = bench_env(db_url, redis_url, free_port(), tmp / "data", sink.port)
        env.update(LAMBDA_EMULATOR_LOG="info", EMAIL_SCHEDULE_SECONDS=str(EMAIL_SCHEDULE_SECONDS),
                   CLEANUP_INTERVAL=str(EMAIL_SCHEDULE_SECONDS), MIGRATE_ON_START="false")
        migrate_database(database, env)
        sides = {"old": start_side(old_bin_dir, env, tmp / "old.log", cleanup),
                 "new": start_side(RELEASE, env, tmp / "new.log", cleanup)}
        auth = {"Authorization": f"Bearer {root_token(sides['new'][0])}"}
        submitter, listed = add_bench_user(db_url), 0
        for index, (forms, name, method, path, connections, headers, body, as_root) in enumerate(ROWS):
            if forms > listed:
                add_forms(db_url, submitter, listed, forms - listed)
                listed = forms
            token = auth if as_root else {}
            script = lua_script(tmp, f"row{index}", method, {**token, **headers}, body)
            rows.append(measure(sides, script, name, path, connections))
    text = table(rows, old_bin_dir)
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "compare.txt").write_text(text + "\n")
    (OUT_DIR / "compare.json").write_text(json.dumps(rows, indent=1))
    print(text)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BenchError as e:
        print(f"bench-compare: {e}", file=sys.stderr)
        sys.exit(1)
