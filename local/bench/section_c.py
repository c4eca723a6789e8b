"""Section c, with e beside it: the emulator started over the release binaries, nginx in
front of it, and the warm rows through both (the floor also through cargo-lambda, alone and
against a bare HTTP hop); e's sequential list timing runs at each list size the rows reach.
Every front it starts is stopped by `cleanup` (an ExitStack) on the way out."""

from __future__ import annotations

import json
import time
from contextlib import ExitStack
from pathlib import Path

from .client import checked_request
from .config import EMAIL_DRAIN_TIMEOUT, FLOOR_PATH, LIST_SAMPLES, LIST_SIZES, ROOT_LOGIN, UNLIMITED_ROWS, WRK_LOGIN_SECONDS, WRK_RUNS
from .config import WRK_SECONDS as S  # the rows' seconds per run
from .emulator import Emulator
from .figures import fmt_bytes, fmt_ms
from .floor_alone import floor_alone
from .fronts import CargoLambda, Nginx
from .list_timing import list_timing
from .runlog import BenchError, log, mark_section
from .seed import add_bench_user, add_forms
from .stores import outbox_drained, redis_scripts_run
from .warm import warm_row
from .wrk import summary, wrk


def start_fronts(results: dict, cleanup: ExitStack, env: dict, port: int, functions: list[str],
                 tmp: Path) -> tuple[Emulator, Nginx]:
    """The emulator (its idle memory read once every instance is up) and nginx in front of it."""
    meta = results["meta"]
    emu = Emulator(env, port, tmp / "emulator.log", functions)
    cleanup.callback(emu.stop)
    emu.wait_for_health()
    meta["emulator_command"] = emu.command
    meta["instances"] = emu.instances
    meta["concurrency"] = emu.concurrency
    results["memory"] = {"idle": emu.idle_memory()}
    idle = results["memory"]["idle"]
    log(f"   {emu.instances} instance(s) per HTTP function, {emu.concurrency} invocation(s) at once each; idle RSS: "
        f"emulator {idle['root_rss_kib'] / 1024:.1f} MiB, service {idle['service_rss_kib'] / 1024:.1f} MiB over "
        f"{idle['service_processes']} processes, whole tree {idle['rss_kib'] / 1024:.1f} MiB over {idle['processes']}")
    nginx = Nginx(f"127.0.0.1:{port}", tmp / "nginx-error.log")
    cleanup.callback(nginx.stop)
    meta["nginx"] = nginx.version
    return emu, nginx


def root_token(base: str) -> str:
    """An access token of root's, from the emulator at `base`."""
    login = checked_request("POST", base + "/api/v1/auth/login", 200, json=ROOT_LOGIN)
    if login is None or login.status_code != 200:
        raise BenchError(f"root login: {login.status_code if login is not None else 'no answer'}")
    return login.json()["access_token"]


def floor_rows(results: dict, fronts: list[dict], env: dict, nginx: Nginx, tmp: Path) -> list[dict]:
    """The floor through every front (cargo-lambda's too, stopped right after), then the
    floor function alone and the bare HTTP hop."""
    log("   cargo lambda watch --only-lambda-apis beside it, for the floor rows")
    cargo_lambda = CargoLambda(env, tmp / "cargo-lambda.log")
    try:
        floor_fronts = [*fronts, {"name": "cargo-lambda", "base": cargo_lambda.base, "verify": None}]
        rows = warm_row(floor_fronts, tmp, "floor", "GET /bench/floor (floor)", "GET", FLOOR_PATH, {}, None, 200, S)
    finally:
        cargo_lambda.stop()
    results["floor_alone"] = floor_alone(env, tmp / "floor-alone.log")
    hops = [wrk(nginx.hop_base + "/", 1, S, None) for _ in range(WRK_RUNS)]
    results["bare_hop"] = summary(hops)
    log(f"   bare HTTP hop (wrk -> nginx return 200) c1: p50 {fmt_ms(results['bare_hop']['p50_ms'])}")
    return rows


def list_rows(fronts: list[dict], tmp: Path, emu: Emulator, token: str, auth: dict, db_url: str,
              submitter: int) -> tuple[list[dict], list[dict]]:
    """At each list size: the forms inserted, the list's warm rows, then e's sequential
    timing: (the rows, e's figures per size)."""
    rows, list_growth = [], []
    added = 0
    for forms in LIST_SIZES:
        log(f"   inserting forms: {added} -> {forms}")
        add_forms(db_url, submitter, added, forms - added)
        added = forms
        rows += warm_row(fronts, tmp, f"list{forms}", f"GET /api/v1/form ({forms:,} forms)", "GET", "/api/v1/form",
                         auth, None, 200, S)
        log(f"e. list timing at {forms} forms, {LIST_SAMPLES} sequential requests")
        list_growth.append(list_timing(emu, token, forms, db_url))
        log(f"   median {fmt_ms(list_growth[-1]['median_ms'])}")
    return rows, list_growth


def gzip_rows(results: dict, fronts: list[dict], tmp: Path, emu: Emulator, auth: dict) -> list[dict]:
    """The same list for a client that accepts gzip (the app does), when the build compresses."""
    gzip_headers = {**auth, "Accept-Encoding": "gzip"}
    probe = checked_request("GET", emu.base + "/api/v1/form", 200, headers=gzip_headers, stream=True)
    if probe is None or probe.status_code != 200:
        raise BenchError("GET /api/v1/form with gzip: no 200 (see UNEXPECTED above)")
    gzip_on = probe.headers.get("Content-Encoding", "").lower() == "gzip"
    results["list_gzip"] = {"compressed": gzip_on, "wire_bytes": len(probe.raw.read(decode_content=False))}
    if not gzip_on:
        log("   (no gzip row: this build does not compress the list)")
        return []
    return warm_row(fronts, tmp, "list_gzip", f"GET /api/v1/form ({LIST_SIZES[-1]:,} forms, gzip)", "GET",
                    "/api/v1/form", gzip_headers, None, 200, S,
                    f"{fmt_bytes(results['list_gzip']['wire_bytes'])} on the wire")


def form_post_rows(results: dict, fronts: list[dict], tmp: Path, emu: Emulator, auth: dict, db_url: str,
                   sink) -> list[dict]:
    """POST /api/v1/form; the e-mails of those posts go out while the rows run, and what is
    left must not run beside the next rows: the outbox is waited for, with `email` invoked
    as the schedule's sweep would when nothing is sending."""
    form_body = json.dumps({"time": int(time.time()), "customer_name": "Bench Customer",
                            "course": "Benchmarking 101", "payment_method": "cash", "amount": "123.45",
                            "receipt": "R-bench"})
    rows = warm_row(fronts, tmp, "form_post", "POST /api/v1/form", "POST", "/api/v1/form",
                    {**auth, "Content-Type": "application/json"}, form_body, 200, S,
                    "writes a form + queues 1 e-mail, which `email` sends meanwhile (invoked after the commit)")
    waited, waiting, sweeps = outbox_drained(db_url, EMAIL_DRAIN_TIMEOUT, sweep=lambda: emu.invoke("email"))
    results["c_email"] = {"drain_wait_s": round(waited, 2), "still_waiting": waiting, "sweeps": sweeps,
                          "sink_received": sink.received()}
    log(f"   form posts' e-mail: {waited:.1f} s until the outbox was empty ({waiting} still waiting, "
        f"{sweeps} sweeps invoked by the bench); the sink got {results['c_email']['sink_received']}")
    return rows


def api_rows(results: dict, fronts: list[dict], tmp: Path, emu: Emulator, token: str, db_url: str,
             submitter: int, sink) -> tuple[list[dict], list[dict]]:
    """The rows of the API's own paths, in the table's order, as root (`token`) and with
    `submitter`'s forms listed: (the rows, e's figures)."""
    auth = {"Authorization": f"Bearer {token}"}
    rows = warm_row(fronts, tmp, "health", "GET /health", "GET", "/health", {}, None, 200, S)
    rows += warm_row(fronts, tmp, "whoami", "GET /api/v1/auth/login (whoami, root)", "GET", "/api/v1/auth/login",
                     auth, None, 200, S, "root has no forms")
    lists, list_growth = list_rows(fronts, tmp, emu, token, auth, db_url, submitter)
    rows += lists
    rows += gzip_rows(results, fronts, tmp, emu, auth)
    rows += form_post_rows(results, fronts, tmp, emu, auth, db_url, sink)
    login_body = json.dumps(ROOT_LOGIN)
    rows += warm_row(fronts, tmp, "login_post", "POST /api/v1/auth/login (200)", "POST", "/api/v1/auth/login",
                     {"Content-Type": "application/json"}, login_body, 200, WRK_LOGIN_SECONDS, "argon2 verify")
    return rows, list_growth


def section_c(results: dict, cleanup: ExitStack, env: dict, port: int, functions: list[str], tmp: Path,
              db_url: str, redis_url: str, sink) -> tuple[Emulator, list[dict]]:
    """Sections c and e: (the emulator, left running for d and f; e's figures per size)."""
    log("c. starting the emulator (target/release/lambda-emulator), and nginx in front of it")
    sink.parse = False  # c's e-mails are counted, not parsed (tests/smtp_sink.py)
    own_cpu_c = time.process_time()
    emu, nginx = start_fronts(results, cleanup, env, port, functions, tmp)
    fronts = [
        {"name": "emulator", "base": emu.base, "verify": None},
        {"name": "nginx", "base": nginx.base, "verify": str(nginx.cert)},
    ]
    redis_before = redis_scripts_run(redis_url)
    token = root_token(emu.base)
    submitter = add_bench_user(db_url)
    warm = floor_rows(results, fronts, env, nginx, tmp)
    rows, list_growth = api_rows(results, fronts, tmp, emu, token, db_url, submitter, sink)
    warm += rows
    results["warm"] = warm
    redis_after = redis_scripts_run(redis_url)
    results["redis"] = {
        "rate_limit_scripts_run": (redis_after - redis_before
                                   if redis_after is not None and redis_before is not None else None),
        "wrk_requests_rate_limited_rows": sum(w["requests"] for w in warm if w["key"] not in UNLIMITED_ROWS),
    }
    log(f"   Redis ran the rate-limit script {results['redis']['rate_limit_scripts_run']} times during c "
        f"(wrk counted {results['redis']['wrk_requests_rate_limited_rows']} requests on rate-limited rows)")
    mark_section("c, e")
    results["bench_process_cpu_c_s"] = round(time.process_time() - own_cpu_c, 1)
    return emu, list_growth
