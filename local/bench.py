#!/usr/bin/env python3
"""`make bench`: size, cold start, warm latency and throughput of the functions.

    make bench                                   # everything, what README.md shows
    .venv/bin/python local/harness.py -- .venv/bin/python local/bench.py

Runs under local/harness.py (throwaway MariaDB and Redis: TEST_MYSQL_ADMIN_URL,
TEST_REDIS_URL) against release binaries that are already built
(`cargo build --release --workspace --bins --examples`; `make bench` does it), so that
nothing compiles while a clock runs. All load stays on loopback and is bounded in count
and time. Sections:

  a  size of each release binary (stripped by the release profile) and of the zip that
     Lambda is given (the binary as `bootstrap`, deflate level 9)
  b  cold start of each function, started directly against a minimal Lambda Runtime API
     served from this process: process start -> the response POST, median of
     BENCH_COLD_RUNS (5); peak RSS (VmHWM) just before the process is killed
  c  warm latency and throughput through the project's emulator
     (`target/release/lambda-emulator --no-migrate`, local/lambda-emulator: API Gateway and
     the Lambda service, its default instances per function, each serving one request at a
     time), with wrk at 1 and 16 connections, each row twice: straight to the emulator
     (HTTP) and through nginx in front of it (HTTPS; local/nginx/briefthreat.conf.template
     rendered by local/render_nginx.py, a throwaway self-signed certificate). Each:
     BENCH_WRK_WARMUP s (1) of warm-up, then the median of BENCH_WRK_RUNS (3) runs of
     BENCH_WRK_SECONDS s (3). The floor rows also run through `cargo lambda watch
     --only-lambda-apis` (cargo-lambda's emulator, the runtime this one replaced, with one
     `floor` process started here against its Runtime API), and the floor function alone
     against a minimal Runtime API in this process: what the emulator adds. The emulator's
     RSS when idle and the whole process tree's after the loads (c-f)
  d  login timing: unknown user vs known user with a wrong password, 60 each, interleaved
  e  list growth: GET /api/v1/form as admin at 100 and at 10,000 forms, median of 20
  f  e-mail throughput: BENCH_EMAILS (10,000) messages queued by SQL (no commit of an API
     function, so nothing invokes `email` by itself; its schedule is set to an hour) and
     delivered by invoking `email` through the emulator's Invoke API over SMTP to an
     aiosmtpd sink in this process (SmtpSink: it parses each message as it arrives, like
     tests/smtp_sink.py), with the CPU time the `email` instance and the sink spent on them
  g  argon2: `shared/examples/argon2_timing.rs`

Everything runs the production code path: FLASK_ENV=production with Redis, so every
rate-limited request pays its Redis check; RATELIMIT_DEFAULT=1000000/second refuses none.

Prints progress on stderr, then ONE table on stdout; writes target/bench/bench.txt (the
table) and target/bench/bench.json (the table and every raw figure). Uses the project
venv's packages (requests, pymysql, aiosmtpd, cargo-lambda for the comparison rows) and the
standard library.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pymysql
import requests
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
# the tests' process helpers: stop the emulator and every function instance below it
from conftest import _descendants as descendants, free_port, launch_emulator, stop_server  # noqa: E402

RELEASE = ROOT / "target" / "release"
OUT_DIR = ROOT / "target" / "bench"
EMULATOR_BINARY = RELEASE / "lambda-emulator"
# cargo-lambda's emulator: only for the comparison rows of the floor (`make bench` passes
# its venv's; the project-local .venv otherwise).
CARGO_LAMBDA = ROOT / os.environ.get("CARGO_LAMBDA", ".venv/bin/cargo-lambda")


def env_number(key: str, default: float) -> float:
    value = os.environ.get(key, "").strip()
    return float(value) if value else default


# 8 rows x 2 connection counts x (emulator, nginx): keep the whole run near 10 minutes.
WRK_SECONDS = int(env_number("BENCH_WRK_SECONDS", 3))
WRK_WARMUP = int(env_number("BENCH_WRK_WARMUP", 1))
WRK_RUNS = int(env_number("BENCH_WRK_RUNS", 3))
WRK_LOGIN_SECONDS = int(env_number("BENCH_WRK_LOGIN_SECONDS", 2))  # argon2-bound: fewer
# Instances per HTTP function; unset: the emulator's default (what `make serve` and compose run).
INSTANCES = os.environ.get("BENCH_INSTANCES", "").strip()
WRK_TIMEOUT = "5s"
CONNECTIONS = (1, 16)
COLD_RUNS = int(env_number("BENCH_COLD_RUNS", 5))
LOGIN_SAMPLES = 60
LIST_SAMPLES = 20
LIST_SIZES = (100, 10_000)
EMAILS = int(env_number("BENCH_EMAILS", 10_000))
HTTP_TIMEOUT = 30.0  # seconds, every request made with `requests`
LIST_GET_TIMEOUT = 5.0  # seconds, before a list GET counts as lost
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
# Unexpected answers outside wrk's own counts (warm-ups, probes, sequential samples): every
# one is reported in the table, none retried.
ANOMALIES: list[str] = []

ROOT_PASSWORD = "bench-root-password"
# Keys a developer's .env or shell may hold that the benchmark does not set (as in
# tests/conftest.py): blank, so that neither the environment nor .env leaks in.
SHIELDED_KEYS = [
    "MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE",
    "SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_USER", "SMTP_PASSWORD",
    "RATELIMIT_DEFAULT", "CLEANUP_INTERVAL", "PUBLIC_SCHEME", "MIGRATE_ON_START",
    "EMAIL_TRANSPORT", "SES_ENDPOINT_URL", "OUTBOX_RETENTION", "EMAIL_FUNCTION_NAME", "EMAIL_INVOKE_URL",
    "TRUSTED_PROXIES", "EMAIL_MAX_ATTEMPTS", "EMAIL_RETRY_BASE",
]
RATELIMIT = "1000000/second"  # every request is counted in Redis, none refused
NOT_LAMBDAS = {"migrate", "lambda-emulator"}  # a command-line step, the self-hosted runtime
EVENT_FUNCTIONS = {"email", "cleanup"}  # invoked with `{}`, not over HTTP

STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --- small helpers ---------------------------------------------------------------------------

def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_ms(ms) -> str:
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 100:
        return f"{ms:.1f} ms"
    return f"{ms:,.0f} ms"


def fmt_bytes(n: int) -> str:
    return f"{n / 1024 / 1024:.2f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KiB"


def fmt_ratio(r) -> str:
    return "-" if r is None else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def fmt_rate(r) -> str:
    if r is None:
        return "-"
    return f"{r:,.0f}" if r >= 100 else f"{r:.1f}"


def tail(path: Path, chars: int = 4000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def mysql_params(url: str) -> dict:
    parts = urlsplit(url)
    params = {
        "host": parts.hostname or "127.0.0.1",
        "port": parts.port or 3306,
        "user": unquote(parts.username or "root"),
        "password": unquote(parts.password or ""),
        "charset": "utf8mb4",
        "connect_timeout": 10,
        "autocommit": True,
    }
    if parts.path.lstrip("/"):
        params["database"] = unquote(parts.path.lstrip("/"))
    return params


def mysql(url: str):
    return pymysql.connect(**mysql_params(url))


def sql(url: str, query: str, params=None):
    conn = mysql(url)
    try:
        with conn.cursor() as cur:
            cur.execute(query, params)
            return cur.fetchall()
    finally:
        conn.close()


def sql_many(url: str, query: str, rows: list, chunk: int = 2000) -> None:
    """Bulk insert: pymysql turns each executemany of an INSERT ... VALUES into one statement."""
    conn = mysql(url)
    try:
        with conn.cursor() as cur:
            for i in range(0, len(rows), chunk):
                cur.executemany(query, rows[i:i + chunk])
    finally:
        conn.close()


def read_status_kib(pid: int, key: str):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


SECTION_SECONDS: dict[str, float] = {}
_last_mark = [STARTED]


def mark_section(name: str) -> None:
    """Wall time since the previous mark, recorded as section `name`."""
    now = time.monotonic()
    SECTION_SECONDS[name] = round(now - _last_mark[0], 1)
    _last_mark[0] = now


UNLIMITED_ROWS = {"floor", "health"}  # no rate limit: the do-nothing function, /health


def redis_scripts_run(url: str):
    """How many times Redis has run a Lua script (EVALSHA + EVAL: one per rate-limit
    check), from INFO commandstats; None when Redis cannot be asked."""
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=5) as conn:
            conn.sendall(b"INFO commandstats\r\n")
            data = b""
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
                header, _, rest = data.partition(b"\r\n")
                if header.startswith(b"$") and len(rest) >= int(header[1:]):
                    break
    except (OSError, ValueError):
        return None
    calls = re.findall(rb"^cmdstat_(?:evalsha|eval):calls=(\d+)", data, re.M)
    return sum(int(c) for c in calls)


# --- the SMTP sink -----------------------------------------------------------------------------

class SmtpSink:
    """An aiosmtpd server on loopback in this process that accepts every message. With
    `parse` (section f) each message is parsed with the standard library's e-mail parser as
    it arrives, as tests/smtp_sink.py does, and kept; without (section c) it is only
    counted: the e-mails of c's form posts, which `email` sends while the load runs (the
    emulator invokes it after each commit), must not cost this process's Python ~4 ms of
    CPU each on the 2 cores the load is measured on (a real mail server is elsewhere)."""

    def __init__(self, port: int):
        self.port = port
        self.parse = True
        self._lock = threading.Lock()
        self._parsed: list = []
        self.counted = 0  # received while not parsing
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                if sink.parse:
                    raw = envelope.content if isinstance(envelope.content, bytes) else envelope.content.encode()
                    parsed = email.message_from_bytes(raw, policy=email.policy.default)
                    with sink._lock:
                        sink._parsed.append(parsed)
                else:
                    with sink._lock:
                        sink.counted += 1
                return "250 Message accepted for delivery"

        self._controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    def received(self) -> int:
        with self._lock:
            return self.counted + len(self._parsed)

    def messages(self) -> list:
        """The parsed messages (e-mail.message.EmailMessage), in arrival order."""
        with self._lock:
            return list(self._parsed)


def outbox_drained(db_url: str, seconds: float) -> tuple[float, int]:
    """Waits (at most `seconds`) until no message waits in the outbox (status 0): (the
    seconds waited, the messages still waiting)."""
    started = time.monotonic()
    while True:
        waiting = sql(db_url, "SELECT COUNT(*) FROM email_outbox WHERE status = 0")[0][0]
        if waiting == 0 or time.monotonic() - started > seconds:
            return time.monotonic() - started, waiting
        time.sleep(0.2)


# --- the workspace ---------------------------------------------------------------------------

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


# --- a. sizes ---------------------------------------------------------------------------------

def section_sizes(binaries: list[str]) -> list[dict]:
    log("a. binary sizes (release, stripped) and Lambda zips (bootstrap, deflate 9)")
    results = []
    with tempfile.TemporaryDirectory(prefix="bt-bench-zip-") as tmp:
        for name in binaries:
            binary = RELEASE / name
            if not binary.exists():
                raise BenchError(f"{binary} missing: run `cargo build --release --workspace --bins` (make bench does)")
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


# --- g. argon2 --------------------------------------------------------------------------------

def section_argon2() -> dict:
    log("g. argon2 timing (release example)")
    example = RELEASE / "examples" / "argon2_timing"
    if not example.exists():
        raise BenchError(f"{example} missing: run `cargo build --release -p shared --examples` (make bench does)")
    out = subprocess.run([str(example)], capture_output=True, text=True, timeout=300, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- b. cold start against a minimal Lambda Runtime API ---------------------------------------

class _Invocation:
    """One cold start: one event to hand out, and what the function answered."""

    def __init__(self, function: str, event: dict):
        self.function = function
        self.request_id = str(uuid.uuid4())
        self.event = json.dumps(event).encode()
        self.handed_out = False
        self.lock = threading.Lock()
        self.answered = threading.Event()  # response or error posted
        self.released = threading.Event()  # the process is gone: let blocked polls go
        self.response_at: float | None = None
        self.response: bytes | None = None
        self.error: str | None = None


class RuntimeApi:
    """The Lambda Runtime API, as much as a cold start needs: `next` hands out one event
    (the next `next` blocks until the run is over, as an idle Lambda's would), `response`
    records the time, `init/error` and `<id>/error` record the failure."""

    PREFIX = "/2018-06-01/runtime"

    def __init__(self):
        api = self
        self.current: _Invocation | None = None

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # quiet
                pass

            def _body(self) -> bytes:
                if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                    data = b""
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return data
                        data += self.rfile.read(size)
                        self.rfile.readline()
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, status: int, body: bytes, headers: dict | None = None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                run = api.current
                if self.path != f"{api.PREFIX}/invocation/next" or run is None:
                    self._reply(404, b'{"errorMessage":"not found"}')
                    return
                with run.lock:
                    first = not run.handed_out
                    run.handed_out = True
                if not first:
                    # Idle between invocations, until the process is killed.
                    run.released.wait(120)
                    self.close_connection = True
                    return
                arn = f"arn:aws:lambda:us-east-1:000000000000:function:{run.function}"
                self._reply(200, run.event, {
                    "Lambda-Runtime-Aws-Request-Id": run.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 900_000),
                    "Lambda-Runtime-Invoked-Function-Arn": arn,
                    "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Sampled=0",
                })

            def do_POST(self):
                now = time.monotonic()
                body = self._body()
                run = api.current
                if run is not None:
                    if self.path == f"{api.PREFIX}/invocation/{run.request_id}/response":
                        run.response_at, run.response = now, body
                        run.answered.set()
                    elif self.path == f"{api.PREFIX}/init/error" or self.path.endswith("/error"):
                        run.error = f"{self.path}: {body.decode(errors='replace')[:500]}"
                        run.answered.set()
                self._reply(202, b'{"status":"OK"}')

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                # A killed function drops its connection: expected, not worth a traceback.
                if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
                    super().handle_error(request, client_address)

        self.server = Server(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        if self.current is not None:
            self.current.released.set()
        self.server.shutdown()
        self.server.server_close()


def apigw_v2_event(method: str, path: str) -> dict:
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "*/*",
            "host": "bench.example.test",
            "user-agent": "briefthreat-bench",
            "x-forwarded-for": "127.0.0.1",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": "bench.example.test",
            "domainPrefix": "bench",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "briefthreat-bench",
            },
            "requestId": secrets.token_hex(8),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }


def cold_start_once(function: str, event: dict, env: dict, logfile: Path) -> dict:
    # A Runtime API of its own for every run: a poll that the previous (killed) process sent
    # just before it died must never be handed this run's event.
    api = RuntimeApi()
    run = _Invocation(function, event)
    api.current = run
    env = {
        **env,
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "1",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
    }
    with open(logfile, "ab") as out:
        started = time.monotonic()
        proc = subprocess.Popen([str(RELEASE / function)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = started + 60
        while not run.answered.wait(0.05):
            if proc.poll() is not None:
                raise BenchError(f"{function} exited with {proc.returncode} before answering:\n{tail(logfile)}")
            if time.monotonic() > deadline:
                raise BenchError(f"{function} did not answer within 60 s:\n{tail(logfile)}")
        if run.error:
            raise BenchError(f"{function} reported an error: {run.error}\n{tail(logfile)}")
        peak_kib = read_status_kib(proc.pid, "VmHWM")
    finally:
        proc.kill()
        proc.wait()
        run.released.set()
        api.stop()
    status = None
    try:
        status = json.loads(run.response).get("statusCode")
    except (ValueError, AttributeError):
        pass
    return {"ms": (run.response_at - started) * 1000, "peak_rss_kib": peak_kib, "status": status}


def section_cold_starts(functions: list[str], routes: dict[str, str], env: dict, tmp: Path) -> list[dict]:
    log(f"b. cold starts: {len(functions)} functions x {COLD_RUNS} runs, against a local Runtime API")
    results = []
    for function in functions:
        if function in EVENT_FUNCTIONS:
            event, what = {}, "{}"
        else:
            path = routes[function]
            event, what = apigw_v2_event("GET", path), f"GET {path}"
        runs = [cold_start_once(function, event, env, tmp / f"cold-{function}.log") for _ in range(COLD_RUNS)]
        ms = [r["ms"] for r in runs]
        result = {
            "function": function,
            "event": what,
            "runs_ms": [round(m, 2) for m in ms],
            "median_ms": median(ms),
            "min_ms": min(ms),
            "max_ms": max(ms),
            "peak_rss_kib": median([r["peak_rss_kib"] for r in runs]),
            "status": runs[-1]["status"],
        }
        results.append(result)
        log(f"   {function:15} {fmt_ms(result['median_ms']):>10}  peak RSS "
            f"{(result['peak_rss_kib'] or 0) / 1024:.1f} MiB  ({what} -> {result['status']})")
    return results


# --- c. warm figures through the project's emulator ---------------------------------------------

def process_tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)]


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def pss_kib(pid: int):
    """Proportional set size (shared pages split among the processes that map them)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def tree_memory(pid: int) -> dict:
    """VmRSS (and PSS) of `pid` and every process below it, summed and per process."""
    processes = []
    for p in process_tree(pid):
        rss = read_status_kib(p, "VmRSS")
        if rss is None:
            continue  # gone meanwhile
        processes.append({"pid": p, "name": comm(p), "rss_kib": rss, "pss_kib": pss_kib(p)})
    by_name: dict[str, dict] = {}
    for proc in processes:
        entry = by_name.setdefault(proc["name"], {"processes": 0, "rss_kib": 0, "max_rss_kib": 0})
        entry["processes"] += 1
        entry["rss_kib"] += proc["rss_kib"]
        entry["max_rss_kib"] = max(entry["max_rss_kib"], proc["rss_kib"])
    pss = [proc["pss_kib"] for proc in processes]
    return {
        "processes": len(processes),
        "rss_kib": sum(proc["rss_kib"] for proc in processes),
        "pss_kib": sum(pss) if pss and None not in pss else None,
        "root_rss_kib": next((proc["rss_kib"] for proc in processes if proc["pid"] == pid), None),
        "by_name": by_name,
        "per_process": processes,
    }


class Emulator:
    """The project's emulator (target/release/lambda-emulator) over the release binaries, on
    a free loopback port, configuration in its environment (the functions inherit it;
    RUST_LOG is theirs, LAMBDA_EMULATOR_LOG the emulator's): API Gateway on `base`, the
    Runtime and Invoke APIs on another loopback port (`internal`, read from the file it
    writes). The bench migrates the database itself (--no-migrate)."""

    def __init__(self, env: dict, port: int, logfile: Path, functions: list[str]):
        self.base = f"http://127.0.0.1:{port}"
        self.logfile = logfile
        self.functions = functions  # the binaries it is expected to serve
        args = ["--instances", INSTANCES] if INSTANCES else []
        self.command = " ".join(["target/release/lambda-emulator --bin-dir target/release --listen 127.0.0.1:PORT "
                                 "--internal 127.0.0.1:0 --internal-addr-file FILE --no-migrate", *args])
        # Its defaults, whatever the shell says; the schedules far beyond the run (a blank
        # value would let a developer's .env in: the emulator reads it for the schedules).
        env = {k: v for k, v in env.items() if k != "LAMBDA_EMULATOR_WORKERS"}
        env.update(LAMBDA_EMULATOR_LOG="info", EMAIL_SCHEDULE_SECONDS=str(EMAIL_SCHEDULE_SECONDS),
                   CLEANUP_INTERVAL=str(EMAIL_SCHEDULE_SECONDS))
        try:
            self.proc, self.internal = launch_emulator(RELEASE, port, env, logfile, *args)
        except RuntimeError as e:
            raise BenchError(str(e)) from None
        self.instances = None  # per HTTP function, from its "serving on" line

    def log_lines(self) -> list[dict]:
        """The emulator's log so far: one JSON object per line (anything else is skipped)."""
        lines = []
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return lines
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                lines.append(item)
        return lines

    def wait_for_health(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"the emulator exited {self.proc.returncode}:\n{tail(self.logfile)}")
            try:
                resp = requests.get(self.base + "/health", timeout=HTTP_TIMEOUT)
                if resp.status_code == 200:
                    break
                last = f"{resp.status_code} {resp.text[:300]}"
            except requests.RequestException as e:
                last = repr(e)
            if time.monotonic() > deadline:
                raise BenchError(f"GET /health not 200 after {START_TIMEOUT:.0f}s (last: {last}):\n{tail(self.logfile)}")
            time.sleep(0.1)
        for item in self.log_lines():
            if "instances" in item and str(item.get("message", "")).startswith("serving on"):
                self.instances = int(item["instances"])

    def expected_processes(self) -> int:
        """Function instances once all are up: `instances` of each HTTP function, one of
        each event function."""
        http = [f for f in self.functions if f not in EVENT_FUNCTIONS]
        return len(http) * (self.instances or 1) + len(self.functions) - len(http)

    def idle_memory(self) -> dict:
        """RSS just after the start, every instance up and idle (IDLE_SETTLE s after the
        last one appeared): the emulator alone and the whole tree."""
        want = self.expected_processes()
        deadline = time.monotonic() + START_TIMEOUT
        while len(descendants(self.proc.pid)) < want:
            if time.monotonic() > deadline:
                raise BenchError(f"only {len(descendants(self.proc.pid))} of {want} function instances came up:\n"
                                 f"{tail(self.logfile)}")
            time.sleep(0.1)
        time.sleep(IDLE_SETTLE)
        memory = tree_memory(self.proc.pid)
        memory["expected_instances"] = want
        return memory

    def invoke(self, function: str, payload=None, timeout: float = 120):
        """A RequestResponse Invoke through the emulator's Invoke API (internal address)."""
        resp = requests.post(f"{self.internal}/2015-03-31/functions/{function}/invocations",
                             json=payload or {}, timeout=timeout)
        if resp.status_code != 200 or resp.headers.get("X-Amz-Function-Error"):
            raise BenchError(f"invoke {function}: {resp.status_code} {resp.text[:500]}")
        return resp.json() if resp.content else None

    def health_report(self) -> dict:
        """What its log says went wrong: answers of 5xx, warnings and errors (an instance
        that died and was restarted, a function error, an answer that could not be read)."""
        lines = self.log_lines()
        requests_logged = [x for x in lines if x.get("type") == "request"]
        server_errors = [x for x in requests_logged if int(x.get("status", 0) or 0) >= 500]
        trouble = [x for x in lines if str(x.get("level", "")).upper() in ("WARN", "ERROR")
                   and x.get("type") != "request"]
        function_trouble = [x for x in lines if x.get("type") == "function"
                            and re.match(r"\s*(WARN|ERROR)\b", str(x.get("message", "")))]
        kinds: dict[str, int] = {}
        for x in function_trouble:  # "WARN ... invoke{...}: slow statement: ..." -> "WARN slow statement"
            text = str(x.get("message", "")).strip()
            level, what = text.split(" ", 1)[0], text.split("}: ", 1)[-1]
            kind = f"{level} {x.get('function', '?')}: {what.split(':', 1)[0][:40]}"
            kinds[kind] = kinds.get(kind, 0) + 1
        return {
            "function_warnings_errors": len(function_trouble),
            "function_warnings_errors_kinds": kinds,
            "function_warnings_errors_first": function_trouble[:10],
            "requests_logged": len(requests_logged),
            "status_5xx": len(server_errors),
            "status_5xx_first": server_errors[:5],
            "warnings_errors": len(trouble),
            "warnings_errors_first": trouble[:10],
            "restarts": sum(1 for x in trouble if "restarting" in str(x.get("message", ""))),
        }

    def stop(self) -> None:
        stop_server(self.proc)


class CargoLambda:
    """cargo-lambda 1.9.2's emulator, as the removed local/serve_functions.py ran it for
    self-hosting: `cargo lambda watch --only-lambda-apis` (its HTTP router, reading the same
    route table, and its Runtime API; nothing compiled) and ONE release `floor` process
    started here against its Runtime API (`/.rt/floor`). Only GET /bench/floor is served."""

    def __init__(self, env: dict, logfile: Path):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.logfile = logfile
        self.floor = None
        # cargo-lambda reads RUST_LOG too (and logs its configuration at info).
        server_env = {k: v for k, v in env.items() if k != "RUST_LOG"}
        server_env.setdefault("CARGO_NET_OFFLINE", "true")  # `cargo metadata` only; no fetching
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(
                [str(CARGO_LAMBDA), "lambda", "watch", "--only-lambda-apis", "-A", "127.0.0.1", "-P", str(self.port)],
                cwd=ROOT, env=server_env, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            deadline = time.monotonic() + START_TIMEOUT
            while True:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"cargo lambda watch --only-lambda-apis did not listen:\n{tail(logfile)}")
                try:
                    with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                        break
                except OSError:
                    time.sleep(0.1)
            floor_env = {
                **env,
                "AWS_LAMBDA_RUNTIME_API": f"http://127.0.0.1:{self.port}/.rt/floor",
                "AWS_LAMBDA_FUNCTION_NAME": "floor",
                "AWS_LAMBDA_FUNCTION_VERSION": "1",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
            }
            with open(logfile, "ab") as out:
                self.floor = subprocess.Popen([str(RELEASE / "floor")], cwd=ROOT, env=floor_env,
                                              stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                              start_new_session=True)
            while True:
                if self.floor.poll() is not None or time.monotonic() > deadline:
                    raise BenchError(f"GET {self.base}{FLOOR_PATH}: no 200 from cargo-lambda:\n{tail(logfile)}")
                try:
                    if requests.get(self.base + FLOOR_PATH, timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    pass
                time.sleep(0.1)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.floor is not None and self.floor.poll() is None:
            self.floor.kill()
            self.floor.wait()
        stop_server(self.proc)


# --- the floor function alone: a minimal Runtime API, invocations back to back ------------------

def _more(conn: socket.socket, buffer: bytearray) -> None:
    chunk = conn.recv(65536)
    if not chunk:
        raise ConnectionError("closed mid-request")
    buffer += chunk


def _read_request(conn: socket.socket, buffer: bytearray):
    """One HTTP/1.1 request from `conn` (`buffer` keeps what was read past it): (the time
    its first bytes arrived, method, path, body); None when the peer closed."""
    first_at = time.perf_counter() if buffer else None
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        if first_at is None:
            first_at = time.perf_counter()
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    buffer[:] = rest
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split(" ")[:2]
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            while b"\r\n" not in buffer:
                _more(conn, buffer)
            size_line, _, _ = bytes(buffer).partition(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            start = len(size_line) + 2
            while len(buffer) < start + size + 2:
                _more(conn, buffer)
            body += buffer[start:start + size]
            buffer[:] = buffer[start + size + 2:]
            if size == 0:
                break
        return first_at, method, path, bytes(body)
    length = int(headers.get("content-length") or 0)
    while len(buffer) < length:
        _more(conn, buffer)
    body = bytes(buffer[:length])
    buffer[:] = buffer[length:]
    return first_at, method, path, body


def floor_alone(env: dict, logfile: Path) -> dict:
    """The floor function's own cost of one warm invocation, with no HTTP front: one release
    `floor` process against a minimal Runtime API on raw sockets in this process, which
    hands out the next event as soon as it is asked. Each sample runs from just before the
    event is written to `next`'s connection until the first bytes of the function's
    response POST arrive: reading the event, lambda_http and the handler, writing the
    answer. Whatever the emulator's floor rows take beyond this at one connection is the
    HTTP front (API Gateway's part: the client's hop, the event built, the answer mapped)
    and the Lambda service's hand-over: what the emulator adds."""
    log(f"   the floor function alone: {ALONE_WARMUP} + {ALONE_SAMPLES} invocations back to back "
        f"against a minimal Runtime API")
    event = apigw_v2_event("GET", FLOOR_PATH)
    total = ALONE_WARMUP + ALONE_SAMPLES
    payloads = []
    for i in range(total):
        event["requestContext"]["requestId"] = f"{i:016x}"
        payloads.append(json.dumps(event).encode())
    prefix = "/2018-06-01/runtime/invocation/"
    state = {"handed": 0, "sent_at": {}, "samples": [], "statuses": {}, "errors": []}
    done = threading.Event()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    address = f"127.0.0.1:{listener.getsockname()[1]}"
    arn = "arn:aws:lambda:us-east-1:000000000000:function:floor"

    def serve(conn: socket.socket):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        try:
            while True:
                request = _read_request(conn, buffer)
                if request is None:
                    return
                first_at, method, path, body = request
                if method == "GET" and path == prefix + "next":
                    i = state["handed"]
                    if i >= total:
                        done.wait(60)
                        return
                    state["handed"] = i + 1
                    request_id = f"bench-{i:08d}"
                    payload = payloads[i]
                    head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                            f"Lambda-Runtime-Aws-Request-Id: {request_id}\r\n"
                            f"Lambda-Runtime-Deadline-Ms: {int(time.time() * 1000) + 900_000}\r\n"
                            f"Lambda-Runtime-Invoked-Function-Arn: {arn}\r\n"
                            f"Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\r\n"
                            ).encode() + payload
                    state["sent_at"][request_id] = time.perf_counter()
                    conn.sendall(head)
                    continue
                if method == "POST" and path.endswith("/response"):
                    request_id = path[len(prefix):-len("/response")]
                    sent_at = state["sent_at"].pop(request_id, None)
                    if sent_at is not None and int(request_id.split("-")[1]) >= ALONE_WARMUP:
                        state["samples"].append((first_at - sent_at) * 1000)
                    try:
                        code = json.loads(body).get("statusCode")
                    except (ValueError, AttributeError):
                        code = None
                    state["statuses"][code] = state["statuses"].get(code, 0) + 1
                    if len(state["samples"]) >= ALONE_SAMPLES:
                        done.set()
                else:
                    state["errors"].append(f"{method} {path}: {body[:300]!r}")
                    done.set()
                reply = b'{"status":"OK"}'
                conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(reply)).encode() + b"\r\n\r\n" + reply)
        except OSError:
            return
        finally:
            conn.close()

    def accept():
        while not done.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    floor_env = {**env, "AWS_LAMBDA_RUNTIME_API": address, "AWS_LAMBDA_FUNCTION_NAME": "floor",
                 "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}
    with open(logfile, "ab") as out:
        proc = subprocess.Popen([str(RELEASE / "floor")], cwd=ROOT, env=floor_env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    started = time.monotonic()
    try:
        while not done.wait(0.1):
            if proc.poll() is not None:
                raise BenchError(f"floor exited {proc.returncode} against the minimal Runtime API:\n{tail(logfile)}")
            if time.monotonic() - started > 120:
                raise BenchError(f"floor alone: {len(state['samples'])} of {ALONE_SAMPLES} invocations in 120 s")
        seconds = time.monotonic() - started
    finally:
        done.set()
        proc.kill()
        proc.wait()
        listener.close()
    if state["errors"]:
        raise BenchError(f"floor alone: unexpected requests {state['errors'][:3]}")
    samples = sorted(state["samples"])
    result = {
        "invocations": total,
        "samples": len(samples),
        "p50_ms": samples[len(samples) // 2],
        "p90_ms": samples[int(len(samples) * 0.90)],
        "p99_ms": samples[int(len(samples) * 0.99)],
        "statuses": {str(k): v for k, v in state["statuses"].items()},
        "seconds": seconds,
    }
    log(f"      p50 {fmt_ms(result['p50_ms'])}, p99 {fmt_ms(result['p99_ms'])} over {len(samples)} invocations "
        f"(statuses {result['statuses']})")
    return result


# --- nginx in front of the emulator ----------------------------------------------------------

NGINX_TEMPLATE = ROOT / "local" / "nginx" / "briefthreat.conf.template"


class Nginx:
    """nginx serving the project's server blocks (local/nginx/briefthreat.conf.template,
    rendered by local/render_nginx.py) in front of the emulator: HTTPS on a free loopback
    port with a throwaway self-signed certificate; its nginx.conf, pid, temp paths and
    certificate in a temp dir, its error log beside the other logs of the run."""

    def __init__(self, upstream: str, logfile: Path):
        sys.path.insert(0, str(ROOT / "local"))
        from render_nginx import render  # noqa: PLC0415  (local/render_nginx.py)

        self.binary = shutil.which("nginx") or next(
            (p for p in ("/usr/sbin/nginx", "/sbin/nginx") if os.path.exists(p)), None)
        if not self.binary:
            raise BenchError("nginx not found: apt-get install nginx (make bench does)")
        self.dir = Path(tempfile.mkdtemp(prefix="bt-bench-nginx-"))
        self.dir.chmod(0o755)  # workers run as another user when we are root (temp paths below)
        self.logfile = logfile
        certs = self.dir / "certs"
        certs.mkdir()
        self.cert = certs / "certificate.crt"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
             "-keyout", str(certs / "key.pem"), "-out", str(self.cert)],
            check=True, capture_output=True, timeout=60,
        )
        self.http_port = free_port()
        self.https_port = free_port()
        self.hop_port = free_port()
        while len({self.http_port, self.https_port, self.hop_port}) < 3:
            self.https_port, self.hop_port = free_port(), free_port()
        self.base = f"https://127.0.0.1:{self.https_port}"
        # The bare HTTP hop: a plain-HTTP server that answers by itself (what any HTTP front
        # costs a client on loopback, the part of the floor rows no emulator can avoid).
        self.hop_base = f"http://127.0.0.1:{self.hop_port}"
        server_blocks = render(NGINX_TEMPLATE.read_text(encoding="utf-8"), {
            "NGINX_HOST": "localhost",
            "NGINX_HTTP_PORT": str(self.http_port),
            "NGINX_HTTPS_PORT": str(self.https_port),
            "SSL_CERT_DIR": str(certs),
            "API_UPSTREAM": upstream,
        })
        # The floor is no contract path (the template answers it with the 404 page): one more
        # location at the end of the HTTPS server block, proxied like the contract's paths.
        head, end = server_blocks.rsplit("}", 1)
        floor = f"    location = {FLOOR_PATH} {{ proxy_pass http://briefthreat_api{FLOOR_PATH}; }}\n"
        server_blocks = f"{head}{floor}}}{end}"
        (self.dir / "briefthreat.conf").write_text(server_blocks, encoding="utf-8")
        for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir(mode=0o777)
            (self.dir / sub).chmod(0o777)
        # One worker (2 shared cores, and it is far from busy); no access log (disk noise).
        (self.dir / "nginx.conf").write_text(f"""
worker_processes 1;
pid {self.dir}/nginx.pid;
error_log {logfile} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {self.dir}/client_body;
    proxy_temp_path {self.dir}/proxy;
    fastcgi_temp_path {self.dir}/fastcgi;
    uwsgi_temp_path {self.dir}/uwsgi;
    scgi_temp_path {self.dir}/scgi;
    include {self.dir}/briefthreat.conf;
    server {{ listen 127.0.0.1:{self.hop_port}; location / {{ return 200 "ok"; }} }}
}}
""", encoding="utf-8")
        self.version = tool_version([self.binary, "-v"]).split("/")[-1]
        with open(logfile, "ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-p", str(self.dir), "-e", str(logfile), "-c", str(self.dir / "nginx.conf"),
                 "-g", "daemon off;"],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"nginx exited {self.proc.returncode}:\n{tail(logfile)}")
            try:
                resp = requests.get(self.base + "/health", timeout=HTTP_TIMEOUT, verify=str(self.cert))
                if resp.status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"GET {self.base}/health through nginx: no 200 within 30 s:\n{tail(logfile)}")
            time.sleep(0.2)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: fast shutdown
            try:
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def lua_script(directory: Path, name: str, method: str, headers: dict, body: str | None) -> Path:
    lines = [f'wrk.method = "{method}"']
    for key, value in headers.items():
        lines.append(f'wrk.headers["{key}"] = [==[{value}]==]')
    if body is not None:
        lines.append(f"wrk.body = [==[{body}]==]")
    path = directory / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def parse_wrk(output: str) -> dict:
    def number(pattern, cast=float, default=None):
        m = re.search(pattern, output, re.M)
        return cast(m.group(1)) if m else default

    latency = {}
    for m in re.finditer(r"^\s+(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M):
        latency[int(m.group(1))] = float(m.group(2)) * UNITS_MS[m.group(3)]
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    connect, read, write, timeout = (int(x) for x in socket_errors.groups()) if socket_errors else (0, 0, 0, 0)
    average = re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s|m|h)\s", output, re.M)
    duration = re.search(r"^\s+\d+ requests in ([\d.]+)(us|ms|s|m|h),", output, re.M)
    return {
        "avg_ms": float(average.group(1)) * UNITS_MS[average.group(2)] if average else None,
        "duration_ms": float(duration.group(1)) * UNITS_MS[duration.group(2)] if duration else None,
        "requests": number(r"^\s+(\d+) requests in ", int, 0),
        "rps": number(r"^Requests/sec:\s+([\d.]+)"),
        "p50_ms": latency.get(50),
        "p90_ms": latency.get(90),
        "p99_ms": latency.get(99),
        "timeouts": timeout,
        "socket_errors": connect + read + write,
        "non_2xx": number(r"Non-2xx or 3xx responses: (\d+)", int, 0),
    }


def wrk(url: str, connections: int, seconds: int, script: Path | None) -> dict:
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", WRK_TIMEOUT]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    result = parse_wrk(out.stdout)
    result["raw"] = out.stdout
    # How long each connection went without an answered request under way: the request in
    # flight when the run ended (wrk counts only answered ones), or one that hung (a lost
    # answer, shorter than the timeout). More than twice the p99 (and half a second): flagged
    # in the table, never redone.
    if result["duration_ms"]:
        answered_ms = result["requests"] * (result["avg_ms"] or 0.0) / connections
        result["idle_ms_per_connection"] = max(0.0, result["duration_ms"] - answered_ms)
    else:
        result["idle_ms_per_connection"] = 0.0
    result["idle"] = result["idle_ms_per_connection"] > max(2 * (result["p99_ms"] or 0.0), IDLE_FLOOR_MS)
    return result


IDLE_FLOOR_MS = 500.0


def anomaly(message: str) -> None:
    ANOMALIES.append(message)
    log(f"   UNEXPECTED: {message}")


def checked_request(method: str, url: str, expect: int, **kwargs) -> requests.Response | None:
    """One request that should answer `expect`: anything else (another status, no answer
    within the timeout) is recorded in ANOMALIES and shown in the table, never retried.
    None when there was no answer."""
    kwargs.setdefault("timeout", HTTP_TIMEOUT)
    headers = {**IDENTITY, **kwargs.pop("headers", {})}
    try:
        resp = requests.request(method, url, headers=headers, allow_redirects=False, **kwargs)
    except requests.RequestException as e:
        anomaly(f"{method} {url}: no answer ({type(e).__name__}: {str(e)[:200]})")
        return None
    if resp.status_code != expect:
        anomaly(f"{method} {url}: expected {expect}, got {resp.status_code} {resp.text[:200]!r}")
    return resp


FLOOR_PATH = "/bench/floor"
FLOOR_SECONDS = 1  # the floor run beside each run of a row


def floor_run(front: dict, connections: int) -> dict:
    """A short run of the floor through `front`, right after a run of a row: the two share
    whatever else the machine was doing at that moment, so their ratio is steadier than a
    ratio to the floor row measured minutes earlier."""
    return wrk(front["base"] + FLOOR_PATH, connections, FLOOR_SECONDS, None)


def warm_row(fronts: list[dict], tmp: Path, key: str, label: str, method: str, path: str,
             headers: dict, body: str | None, expect: int, seconds: int, note: str = "") -> list[dict]:
    """One row per connection count and front (the emulator itself, nginx in front of it;
    for the floor also cargo-lambda). Per connection count: one checked request and a
    WRK_WARMUP s wrk warm-up through each front, then WRK_RUNS rounds, each one run of
    `seconds` through every front in turn, every run followed by a FLOOR_SECONDS run of the
    floor through the same front (the paired floor of the ratio); medians per front."""
    script = lua_script(tmp, key, method, headers, body) if (method != "GET" or headers or body) else None
    is_floor = path == FLOOR_PATH
    rows = []
    for connections in CONNECTIONS:
        log(f"   {label} c{connections}: warm-up {WRK_WARMUP}s, then {WRK_RUNS} x {seconds}s through "
            f"{' and '.join(f['name'] for f in fronts)}" + ("" if is_floor else f", each + {FLOOR_SECONDS}s of floor"))
        for front in fronts:
            checked_request(method, front["base"] + path, expect, headers=headers, data=body,
                            timeout=LIST_GET_TIMEOUT, verify=front["verify"])
            warm_up = wrk(front["base"] + path, connections, WRK_WARMUP, script)
            if warm_up["timeouts"] or warm_up["socket_errors"] or warm_up["non_2xx"]:
                anomaly(f"{label} c{connections} via {front['name']}, wrk warm-up: timeouts {warm_up['timeouts']}, "
                        f"socket errors {warm_up['socket_errors']}, non-2xx {warm_up['non_2xx']}")
        per_front = {front["name"]: {"runs": [], "floor": []} for front in fronts}
        for _ in range(WRK_RUNS):
            for front in fronts:
                mine = per_front[front["name"]]
                run = wrk(front["base"] + path, connections, seconds, script)
                mine["runs"].append(run)
                mine["floor"].append(run if is_floor else floor_run(front, connections))
        for front in fronts:
            mine = per_front[front["name"]]
            runs, floors = mine["runs"], mine["floor"]
            row = {
                "key": key,
                "label": label,
                "via": front["name"],
                "connections": connections,
                "seconds_per_run": seconds,
                "runs": len(runs),
                "rps": median([r["rps"] for r in runs]),
                "p50_ms": median([r["p50_ms"] for r in runs if r["requests"]]),
                "p99_ms": median([r["p99_ms"] for r in runs if r["requests"]]),
                "paired_floor_p50_ms": median([r["p50_ms"] for r in floors if r["requests"]]),
                "paired_floor_p50_runs_ms": [r["p50_ms"] for r in floors],
                "requests": sum(r["requests"] for r in runs),
                "timeouts": sum(r["timeouts"] for r in runs),
                "socket_errors": sum(r["socket_errors"] for r in runs),
                "non_2xx": sum(r["non_2xx"] for r in runs),
                # the paired floor runs are load too: their errors count
                "floor_errors": 0 if is_floor else sum(r["timeouts"] + r["socket_errors"] + r["non_2xx"]
                                                       for r in floors),
                "idle_ms_per_connection_runs": [round(r["idle_ms_per_connection"], 1) for r in runs],
                "idle_runs": sum(1 for r in runs if r["idle"]),
                "rps_runs": [r["rps"] for r in runs],
                "p50_runs_ms": [r["p50_ms"] for r in runs],
                "p99_runs_ms": [r["p99_ms"] for r in runs],
                "expected_status": expect,
                "note": note,
                "wrk_output_last_run": runs[-1]["raw"],
            }
            rows.append(row)
            log(f"      {front['name']}: {fmt_rate(row['rps'])} req/s, p50 {fmt_ms(row['p50_ms'])}, "
                f"p99 {fmt_ms(row['p99_ms'])} (floor beside it: p50 {fmt_ms(row['paired_floor_p50_ms'])}), "
                f"timeouts {row['timeouts']}, errors {row['socket_errors']}, non-2xx {row['non_2xx']}"
                + (f", floor runs' errors {row['floor_errors']}" if row["floor_errors"] else ""))
    return rows


# --- database content --------------------------------------------------------------------------

FORM_INSERT = (
    "INSERT INTO forms (submitter_id, form_time, customer_name, course, payment_method, "
    "amount_cents, receipt, resolved_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
)


def add_forms(db_url: str, submitter_id: int, start: int, count: int) -> None:
    now = int(time.time())
    rows = [
        (
            submitter_id,
            now - 86_400 * (i % 365),
            f"Customer {i:05d} Bench-Ridley",
            f"Course {i % 37}: Introduction to benchmarking, evening group {i % 5}",
            "cash" if i % 3 else "cheque",
            1_000 + (i * 7919) % 500_000,
            f"R-{i:08d}",
            None if i % 2 else now - 3_600,
        )
        for i in range(start, start + count)
    ]
    sql_many(db_url, FORM_INSERT, rows)


def add_bench_user(db_url: str) -> int:
    """A non-admin submitter for the listed forms (root's own profile stays small)."""
    sql(db_url,
        "INSERT INTO users (username, username_key, email, email_key, first_name, last_name, "
        "password_hash, is_admin, registration_time, password_link_counter) "
        "VALUES ('bench', 'bench', 'bench@example.test', 'bench@example.test', 'Bench', NULL, NULL, 0, %s, 0)",
        (int(time.time()),))
    return sql(db_url, "SELECT id FROM users WHERE username_key = 'bench'")[0][0]


# --- d / e. sequential request timing ----------------------------------------------------------

def timed(session: requests.Session, method: str, url: str, **kwargs) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    resp = session.request(method, url, allow_redirects=False, **kwargs)
    return (time.perf_counter() - started) * 1000, resp


def section_login_timing(emu: Emulator) -> dict:
    log(f"d. login timing: unknown user vs known user with a wrong password, {LOGIN_SAMPLES} each, interleaved")
    url = emu.base + "/api/v1/auth/login"
    cases = {
        "unknown_user": {"username": "nobody-" + secrets.token_hex(4), "password": "wrong-password"},
        "wrong_password": {"username": "root", "password": "wrong-password"},
    }
    samples = {case: [] for case in cases}
    with requests.Session() as session:
        session.headers.update(IDENTITY)
        timed(session, "POST", url, json=cases["unknown_user"], timeout=HTTP_TIMEOUT)  # warm
        for i in range(LOGIN_SAMPLES):
            order = list(cases) if i % 2 == 0 else list(reversed(cases))
            for case in order:
                try:
                    ms, resp = timed(session, "POST", url, json=cases[case], timeout=HTTP_TIMEOUT)
                except requests.RequestException as e:
                    anomaly(f"login {case}: no answer ({type(e).__name__})")  # reported, not sampled
                    session.close()
                    continue
                if resp.status_code != 401:
                    anomaly(f"login {case}: expected 401, got {resp.status_code} {resp.text[:200]!r}")
                    continue
                samples[case].append(ms)
    unknown, wrong = median(samples["unknown_user"]), median(samples["wrong_password"])
    ratio = wrong / unknown
    result = {
        "samples": LOGIN_SAMPLES,
        "unknown_user_median_ms": unknown,
        "wrong_password_median_ms": wrong,
        "ratio_wrong_over_unknown": ratio,
        "within_10_percent": abs(ratio - 1) <= 0.10,
        "unknown_user_ms": [round(x, 2) for x in samples["unknown_user"]],
        "wrong_password_ms": [round(x, 2) for x in samples["wrong_password"]],
    }
    log(f"   unknown {fmt_ms(unknown)}, wrong password {fmt_ms(wrong)}, ratio {ratio:.3f}")
    return result


def list_timing(emu: Emulator, token: str, forms: int) -> dict:
    url = emu.base + "/api/v1/form"
    headers = {"Authorization": f"Bearer {token}"}
    samples, lost, wrong_status, size = [], 0, 0, None
    checked_request("GET", url, 200, headers=headers, timeout=LIST_GET_TIMEOUT)  # warm, not sampled
    with requests.Session() as session:
        session.headers.update(IDENTITY)
        while len(samples) < LIST_SAMPLES:
            if lost + wrong_status > LIST_SAMPLES:
                raise BenchError(f"GET /api/v1/form ({forms} forms): {lost} without answer, {wrong_status} not 200")
            try:
                ms, resp = timed(session, "GET", url, headers=headers, timeout=LIST_GET_TIMEOUT)
            except requests.RequestException as e:
                lost += 1  # counted and reported, not sampled
                anomaly(f"GET /api/v1/form ({forms} forms): no answer in {LIST_GET_TIMEOUT:.0f} s ({type(e).__name__})")
                session.close()
                continue
            if resp.status_code != 200:
                wrong_status += 1  # counted and reported, not sampled
                anomaly(f"GET /api/v1/form ({forms} forms): {resp.status_code} {resp.text[:200]!r}")
                continue
            count = len(resp.json())
            if count < forms:
                raise BenchError(f"GET /api/v1/form listed {count} forms, expected {forms}")
            size = len(resp.content)
            samples.append(ms)
    return {"forms": forms, "median_ms": median(samples), "response_bytes": size, "lost_no_answer_in_5s": lost,
            "not_200": wrong_status, "samples_ms": [round(x, 2) for x in samples]}


# --- f. e-mail throughput ---------------------------------------------------------------------

def cpu_seconds(pid: int):
    """utime + stime of a process so far, in seconds (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def instance_pid(emu: Emulator, function: str):
    """The running instance of `function` under the emulator (its child process)."""
    for pid in descendants(emu.proc.pid):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == function[:15]:
                return pid
        except OSError:
            continue
    return None


def section_email(emu: Emulator, db_url: str, sink: SmtpSink) -> dict:
    log(f"f. e-mail throughput: {EMAILS} messages through `email` to the SMTP sink")
    # Warm: the instance is up, the SMTP transport built. It runs after any Event invocation
    # that section c's commits (POST /api/v1/form) queued, so their mail is out by then.
    emu.invoke("email")
    sink.parse = True
    triggered = {
        "sink_received_before_f": sink.received(),
        "outbox_status_counts": {str(k): v for k, v in
                                 sql(db_url, "SELECT status, COUNT(*) FROM email_outbox GROUP BY status")},
    }
    log(f"   before f: the sink got {triggered['sink_received_before_f']} e-mails (section c's form posts, "
        f"delivered by `email` invoked after each commit); outbox {triggered['outbox_status_counts']}")
    sql(db_url, "DELETE FROM email_outbox")
    email_pid = instance_pid(emu, "email")
    before = len(sink.messages())
    marker = f"bench-{secrets.token_hex(4)}"
    now = int(time.time())
    text = "Hello,\n\nThis is a benchmark message. " * 12
    html = "<html><body><p>Hello,</p>" + "<p>This is a benchmark message.</p>" * 12 + "</body></html>"
    rows = [
        (f"bench{i:05d}@example.test", f"Bench Recipient {i}", f"{marker} message {i}", text, html, now, 0, 0, now)
        for i in range(EMAILS)
    ]
    sql_many(db_url,
             "INSERT INTO email_outbox (to_address, to_name, subject, text_body, html_body, created_at, "
             "status, attempts, next_attempt_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
             rows, chunk=1000)
    reports = []
    email_cpu_before = cpu_seconds(email_pid) if email_pid else None
    own_cpu_before = time.process_time()  # this process: the sink's threads, all but idle otherwise
    started = time.monotonic()
    finished = started
    while True:
        if len(reports) > 200 or time.monotonic() - started > 600:
            raise BenchError(f"e-mail drain did not finish: {reports[-3:]}")
        report = emu.invoke("email", timeout=120)
        reports.append(report)
        if not report or not report.get("delivered"):
            break
        finished = time.monotonic()
        log(f"   invoke {len(reports)}: {report}")
    email_cpu_after = cpu_seconds(email_pid) if email_pid else None
    own_cpu = time.process_time() - own_cpu_before
    email_cpu = (email_cpu_after - email_cpu_before
                 if email_cpu_before is not None and email_cpu_after is not None else None)
    delivered = sum(r.get("delivered", 0) for r in reports if r)
    deadline = time.monotonic() + 10
    while len(sink.messages()) - before < EMAILS and time.monotonic() < deadline:
        time.sleep(0.1)
    received = sink.messages()[before:]
    ours = sum(1 for m in received if str(m["Subject"] or "").startswith(marker))
    status_counts = dict(sql(db_url, "SELECT status, COUNT(*) FROM email_outbox GROUP BY status"))
    seconds = finished - started
    result = {
        "queued": EMAILS,
        "delivered_reported": delivered,
        "sink_received": len(received),
        "sink_received_ours": ours,
        "exact": len(received) == EMAILS and ours == EMAILS,
        "outbox_status_counts": {str(k): v for k, v in status_counts.items()},
        "invocations": len(reports),
        "seconds": seconds,
        "messages_per_second": EMAILS / seconds if seconds > 0 else None,
        "retrying": sum(r.get("retrying", 0) for r in reports if r),
        "dead": sum(r.get("dead", 0) for r in reports if r),
        "email_cpu_seconds": email_cpu,
        "sink_cpu_seconds": own_cpu,
        "email_cpu_share": email_cpu / seconds if email_cpu is not None and seconds > 0 else None,
        "sink_cpu_share": own_cpu / seconds if seconds > 0 else None,
        "before_f": triggered,
    }
    log(f"   {delivered} delivered in {seconds:.1f}s ({fmt_rate(result['messages_per_second'])}/s); "
        f"sink got {len(received)} (ours {ours}); CPU: email {email_cpu if email_cpu is not None else '?'} s, "
        f"sink (this process) {own_cpu:.1f} s")
    return result


# --- the table ---------------------------------------------------------------------------------

def build_table(r: dict) -> str:
    header = ["§", "measurement", "req/s", "p50 / median", "p99", "÷ floor", "other figures"]
    rows: list[list[str]] = []

    for s in r["sizes"]:
        name = s["function"] + ("" if s["lambda"] else " (self-hosted runtime)" if s["function"] == "lambda-emulator"
                                else " (CLI, not a Lambda)")
        rows.append(["a", f"size {name}", "", "", "", "",
                     f"binary {fmt_bytes(s['binary_bytes'])}, zip {fmt_bytes(s['zip_bytes'])}"])

    floor_cold = next((c["median_ms"] for c in r["cold_starts"] if c["function"] == "floor"), None)
    for c in r["cold_starts"]:
        ratio = c["median_ms"] / floor_cold if floor_cold else None
        rss = f"{c['peak_rss_kib'] / 1024:.1f} MiB" if c["peak_rss_kib"] else "-"
        rows.append(["b", f"cold start {c['function']}", "", fmt_ms(c["median_ms"]), "", fmt_ratio(ratio),
                     f"peak RSS {rss}; min–max {fmt_ms(c['min_ms'])}–{fmt_ms(c['max_ms'])}; "
                     f"{c['event']} → {c['status'] if c['status'] is not None else 'ok'}"])

    direct = {(w["key"], w["connections"]): w for w in r["warm"] if w["via"] == "emulator"}
    alone, hop = r["floor_alone"], r.get("bare_hop")
    suffix = {"emulator": "", "nginx": " · nginx", "cargo-lambda": " · cargo-lambda"}
    for i, w in enumerate(r["warm"]):
        base = w["paired_floor_p50_ms"]
        ratio = w["p50_ms"] / base if (base and w["p50_ms"] is not None) else None
        ours = direct.get((w["key"], w["connections"]))
        figures = []
        if w["key"] != "floor" and base is not None:
            figures.append(f"floor beside it {fmt_ms(base)}")
        if w["via"] == "nginx" and ours and ours["p50_ms"] is not None and w["p50_ms"] is not None:
            delta = w["p50_ms"] - ours["p50_ms"]
            figures.append(f"nginx {delta:+.2f} ms at p50" if abs(delta) < 10 else f"nginx {delta:+,.0f} ms at p50")
        if w["via"] == "cargo-lambda" and ours and w["rps"] and ours["rps"] and w["p50_ms"] is not None:
            goal = "; target ≥ 5×" if w["connections"] > 1 else ""
            figures.append(f"ours {ours['rps'] / w['rps']:.1f}× its req/s{goal}, "
                           f"p50 {ours['p50_ms'] - w['p50_ms']:+.2f} ms; cargo-lambda 1.9.2, one floor process")
        if w["key"] == "floor" and w["via"] == "emulator" and w["connections"] == 1 and w["p50_ms"] is not None:
            added = w["p50_ms"] - alone["p50_ms"]
            extra = (f", of which {fmt_ms(hop['p50_ms'])} is any HTTP server's hop (wrk → nginx `return 200`)"
                     if hop and hop.get("p50_ms") is not None else "")
            figures.append(f"the emulator adds {added:+.2f} ms at p50 to the function alone{extra}; target ≤ 0.3 ms")
        if w["note"] and w["via"] == "emulator":
            figures.append(w["note"])
        problems = [f"{n} {what}" for n, what in ((w["timeouts"], "timeouts"), (w["socket_errors"], "socket errors"),
                                                    (w["non_2xx"], "non-2xx"),
                                                    (w["floor_errors"], "errors in the floor runs beside it")) if n]
        figures.append(", ".join(problems) if problems else "no errors")
        if w["idle_runs"]:
            figures.append(f"{w['idle_runs']} run(s) in which a connection sat idle > 2 × p99 (a hung request?)")
        rows.append(["c", f"{w['label']} c{w['connections']}{suffix[w['via']]}", fmt_rate(w["rps"]),
                     fmt_ms(w["p50_ms"]), fmt_ms(w["p99_ms"]), fmt_ratio(ratio), "; ".join(figures)])
        last_floor = w["key"] == "floor" and (i + 1 == len(r["warm"]) or r["warm"][i + 1]["key"] != "floor")
        if last_floor:
            rows.append(["c", "floor function alone c1 (minimal Runtime API)", "", fmt_ms(alone["p50_ms"]),
                         fmt_ms(alone["p99_ms"]), "",
                         f"{alone['samples']:,} warm invocations back to back, no HTTP front: event written → "
                         f"answer's first byte; statuses {alone['statuses']}"])
            if hop:
                rows.append(["c", "bare HTTP hop c1 (nginx `return 200`)", fmt_rate(hop["rps"]),
                             fmt_ms(hop["p50_ms"]), fmt_ms(hop["p99_ms"]), "",
                             "wrk → nginx over plain HTTP, keep-alive: what any HTTP front costs the client"])

    mem = r["memory"]
    idle, loaded = mem["idle"], mem.get("after_loads")

    def mib(kib):
        return "-" if kib is None else f"{kib / 1024:.1f} MiB"

    def largest(m, n=3):
        names = sorted(m["by_name"].items(), key=lambda kv: -kv[1]["rss_kib"])[:n]
        return ", ".join(f"{name} {v['processes']} × ≤{mib(v['max_rss_kib'])}" for name, v in names)

    rows.append(["c", "RSS lambda-emulator, idle", "", "", "", "",
                 f"{mib(idle['root_rss_kib'])} just after the start, all {idle['expected_instances']} instances up; "
                 f"whole tree {mib(idle['rss_kib'])} over {idle['processes']} processes (PSS {mib(idle['pss_kib'])})"])
    if loaded:
        rows.append(["c–f", "RSS whole self-hosted tree after the loads", "", "", "", "",
                     f"{mib(loaded['rss_kib'])} (sum of VmRSS) over {loaded['processes']} processes, PSS "
                     f"{mib(loaded['pss_kib'])}; lambda-emulator {mib(loaded['root_rss_kib'])}; largest: {largest(loaded)}"])
    err = r["errors"]
    rows.append(["c–f", "errors", "", "", "", "",
                 f"wrk: {err['wrk_timeouts']} timeouts, {err['wrk_socket_errors']} socket errors, {err['wrk_non_2xx']} "
                 f"non-2xx over {err['wrk_requests']:,} requests; other requests: {err['anomalies']} unexpected; "
                 f"emulator log: {err['emulator']['status_5xx']} answers 5xx, {err['emulator']['warnings_errors']} "
                 f"warnings/errors, {err['emulator']['restarts']} instance restarts; the functions logged "
                 f"{err['emulator']['function_warnings_errors']} WARN/ERROR lines"
                 + "".join(f", {n} × {kind}" for kind, n in sorted(
                     err["emulator"]["function_warnings_errors_kinds"].items(), key=lambda kv: -kv[1])[:3])
                 + (f"; the floor runs beside the rows: {err['wrk_floor_runs_errors']} errors"
                    if err["wrk_floor_runs_errors"] else "")])

    d = r["login_timing"]
    rows.append(["d", "login 401, unknown user", "", fmt_ms(d["unknown_user_median_ms"]), "", "",
                 f"{d['samples']} sequential, interleaved"])
    rows.append(["d", "login 401, known user + wrong password", "", fmt_ms(d["wrong_password_median_ms"]), "", "",
                 f"ratio {d['ratio_wrong_over_unknown']:.3f} "
                 f"({'within' if d['within_10_percent'] else 'NOT within'} 10%)"])

    e = r["list_growth"]
    for item in e["sizes"]:
        rows.append(["e", f"GET /api/v1/form, {item['forms']:,} forms", "", fmt_ms(item["median_ms"]), "", "",
                     f"{LIST_SAMPLES} sequential; {fmt_bytes(item['response_bytes'] or 0)} body; "
                     f"no answer in {LIST_GET_TIMEOUT:.0f} s: {item['lost_no_answer_in_5s']}, "
                     f"not 200: {item['not_200']}"])
    rows.append(["e", "list growth 10,000 ÷ 100 forms", "", "", "", "", f"ratio {e['ratio']:.1f}×"])

    f = r["email"]
    cpu = ""
    if f.get("email_cpu_seconds") is not None:
        cpu = (f"; CPU: email {f['email_cpu_seconds'] / f['queued'] * 1e6:,.0f} µs/msg "
               f"({f['email_cpu_share'] * 100:.0f}% of a core), sink {f['sink_cpu_share'] * 100:.0f}%")
    rows.append(["f", f"e-mail: {f['queued']:,} queued → SMTP sink", fmt_rate(f["messages_per_second"]), "", "", "",
                 f"msg/s; {f['seconds']:.1f} s over {f['invocations']} invocations; sink got "
                 f"{f['sink_received']:,} ({'exactly' if f['exact'] else 'NOT exactly'} {f['queued']:,}); "
                 f"retrying {f['retrying']}, dead {f['dead']}{cpu}"])
    before = f["before_f"]
    ce = r.get("c_email", {})
    rows.append(["f", "e-mail after each commit (c's form posts)", "", "", "", "",
                 f"the sink got {before['sink_received_before_f']:,} before f, from `email` invoked by the "
                 f"emulator after each commit (no poller); outbox then {before['outbox_status_counts']}; "
                 f"after the form rows the outbox was empty within {ce.get('drain_wait_s', '?')} s"])

    g = r["argon2"]
    rows.append(["g", "argon2 hash (release)", "", fmt_ms(g["median_ms"]), "", "",
                 f"p90 {fmt_ms(g['p90_ms'])}; {g['params']}; n={g['n']} after {g['warm_ups']} warm-ups"])

    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]
    right = {2, 3, 4, 5}

    def line(cells):
        return "| " + " | ".join(c.rjust(widths[i]) if i in right else c.ljust(widths[i])
                                 for i, c in enumerate(cells)) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in right else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep, *(line(row) for row in rows)])


def notes(r: dict) -> str:
    m = r["meta"]
    redis = r.get("redis", {})
    sections = ", ".join(f"{k} {v:.0f} s" for k, v in m.get("section_seconds", {}).items())
    return "\n".join([
        f"BriefThreat `make bench`, {m['date']} on {m['host']} ({m['cpus']} CPUs, load {m['load_before']} before, "
        f"{m['load_after']} after); cargo-lambda {m['cargo_lambda']}, {m['wrk']}, nginx {m.get('nginx', '?')}; "
        f"MariaDB + Redis from local/harness.py (MariaDB without fsync per commit).",
        f"Production code path: FLASK_ENV=production, REDIS_URL set, RATELIMIT_DEFAULT={RATELIMIT} (every "
        f"rate-limited request pays its Redis check, none is refused: Redis ran the check "
        f"{redis.get('rate_limit_scripts_run', '?')} times for the {redis.get('wrk_requests_rate_limited_rows', '?')} "
        f"wrk requests of the limited rows, plus warm-ups), production secrets, TRUSTED_PROXIES=127.0.0.1.",
        f"c: `{m.get('emulator_command', 'lambda-emulator')}` (local/lambda-emulator): {m.get('instances', '?')} "
        f"instances of each HTTP function (its default on this machine, as `make serve` and compose run it; "
        f"one of `email`, `cleanup`), each serving one request at a time; at 1 connection one request is in "
        f"flight, so the c1 rows compare with one instance per function. EMAIL_SCHEDULE_SECONDS="
        f"{EMAIL_SCHEDULE_SECONDS}: `email` runs only when a commit or the bench invokes it. wrk -t1 -c1 / -t2 "
        f"-c16 --timeout {WRK_TIMEOUT}, {WRK_WARMUP} s warm-up then median of {WRK_RUNS} runs of {WRK_SECONDS} s "
        f"({WRK_LOGIN_SECONDS} s for login), the fronts' runs taking turns. `· nginx`: the same load over HTTPS "
        f"(keep-alive) through nginx {m.get('nginx', '?')} with local/nginx/briefthreat.conf.template (1 worker, "
        f"self-signed P-256 certificate) in front of the same emulator. `· cargo-lambda`: the floor through "
        f"`cargo lambda watch --only-lambda-apis` (cargo-lambda {m['cargo_lambda']}, the runtime this one "
        f"replaced) with one release `floor` process started against its Runtime API, as "
        f"local/serve_functions.py ran it. The floor function alone: one `floor` process against a minimal "
        f"Runtime API on raw sockets in the bench (event written → first byte of its answer, {ALONE_SAMPLES:,} "
        f"invocations after {ALONE_WARMUP} warm-ups); the emulator adds = floor c1 p50 − that p50 (so it "
        f"includes wrk's own hop, shown by the bare-hop row). ÷ floor = p50 / p50 of GET /bench/floor (a "
        f"do-nothing lambda_http function under the same emulator) at the same connection count, the same way "
        f"(direct or through nginx), in a {FLOOR_SECONDS} s run right after each run of the row (the median of "
        f"those: \"floor beside it\"); the floor rows are its own longer runs. b: median / floor's median. "
        f"Errors are counted, never retried: wrk's timeouts, socket errors and non-2xx per row (the floor runs "
        f"beside a row included), every other request that got no answer or an unexpected status, and the "
        f"emulator's log (answers of 5xx, warnings and errors, instance restarts). RSS: sum of VmRSS (and PSS) "
        f"over the emulator and every process below it, idle {IDLE_SETTLE:.0f} s after the last instance came "
        f"up, and after the loads of c–f.",
        f"POST /api/v1/form: each commit invokes `email` (Event, through the emulator's Invoke API, as in AWS), "
        f"which sends the e-mail while the rows run, to an SMTP sink in the bench's own process that only counts "
        f"them during c; before the next row the bench waits until the outbox is empty. The bench process used "
        f"{r.get('bench_process_cpu_c_s', '?')} s of CPU during c and e.",
        "f: the e-mails are queued by SQL, so no commit invokes `email`, and its schedule is an hour away: the "
        "bench's own Invokes (RequestResponse) drain the queue. They go to an aiosmtpd sink in the benchmark's own "
        "Python process, which parses every message: at these rates the sink, not the `email` function, is the "
        "bottleneck (see the CPU shares).",
        f"Total {m['total_seconds']:.0f} s after the release build ({sections})."
        + (f" WARNING: {', '.join(m['binaries_changed_during_run'])} changed on disk during the run (a build "
           f"elsewhere): the figures mix builds." if m.get("binaries_changed_during_run") else ""),
    ])


# --- main --------------------------------------------------------------------------------------

def tool_version(cmd: list[str]) -> str:
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (out.stdout or out.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def interrupted(signum, _frame):
    raise KeyboardInterrupt(f"signal {signum}")


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


def main() -> int:
    # local/harness.py forwards SIGTERM: leave through the cleanup below.
    signal.signal(signal.SIGTERM, interrupted)
    admin_url = os.environ.get("TEST_MYSQL_ADMIN_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not admin_url or not redis_url:
        print("TEST_MYSQL_ADMIN_URL / TEST_REDIS_URL not set: run under local/harness.py (make bench does)",
              file=sys.stderr)
        return 2
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install wrk (make bench does)", file=sys.stderr)
        return 2
    for path in (CARGO_LAMBDA, RELEASE / "migrate", EMULATOR_BINARY, RELEASE / "floor"):
        if not path.exists():
            print(f"{path} missing (make bench builds it)", file=sys.stderr)
            return 2

    other_ci = subprocess.run(["pgrep", "-f", "/tmp/fresh"], capture_output=True, text=True).stdout.split()
    if other_ci:
        log(f"note: other work is running (pgrep -f /tmp/fresh: {len(other_ci)} processes): figures will be noisy")
    meta = {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "host": platform.node(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "other_work_running_at_start": bool(other_ci),
        "cargo_lambda": (tool_version([str(CARGO_LAMBDA), "lambda", "--version"]).split() + ["?", "?"])[1],
        "wrk": tool_version(["wrk", "--version"]).split(" Copyright")[0],
        "settings": {
            "wrk_seconds": WRK_SECONDS, "wrk_warmup": WRK_WARMUP, "wrk_runs": WRK_RUNS,
            "wrk_login_seconds": WRK_LOGIN_SECONDS, "wrk_timeout": WRK_TIMEOUT, "cold_runs": COLD_RUNS,
            "emails": EMAILS, "login_samples": LOGIN_SAMPLES, "list_samples": LIST_SAMPLES,
        },
    }

    results: dict = {"meta": meta}
    # Logs of this run (cold starts, the emulator, cargo-lambda, nginx, wrk scripts) stay for inspection.
    tmp = OUT_DIR / "logs"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    database = f"bt_bench_{secrets.token_hex(4)}"
    db_url = f"{admin_url.rstrip('/')}/{database}"
    sink = SmtpSink(free_port())
    sink.start()
    emu: Emulator | None = None
    nginx: Nginx | None = None
    cargo_lambda: CargoLambda | None = None
    stamps: dict = {}
    try:
        binaries = workspace_binaries()
        stamps = binary_stamps(binaries)
        routes = http_routes()
        results["sizes"] = section_sizes(binaries)
        results["argon2"] = section_argon2()
        log(f"   argon2: median {fmt_ms(results['argon2']['median_ms'])}, p90 {fmt_ms(results['argon2']['p90_ms'])}")
        mark_section("a, g")

        # The bench database, migrated by the release `migrate`; one configuration for all.
        sql(admin_url, f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        port = free_port()
        data_dir = tmp / "data"
        data_dir.mkdir()
        env = dict(os.environ)
        env.update({key: "" for key in SHIELDED_KEYS})
        env.update(
            DATABASE_URL=db_url,
            # The production code path: rate limits in Redis on every limited request, at a
            # limit no load generator here reaches; real secrets and hosts, as production
            # requires them. nginx (127.0.0.1) is a trusted proxy, as in docker-compose.yml.
            FLASK_ENV="production",
            REDIS_URL=redis_url,
            RATELIMIT_DEFAULT=RATELIMIT,
            TRUSTED_PROXIES="127.0.0.1",
            FLASK_SECRET="bench-flask-secret-" + secrets.token_hex(16),
            JWT_SECRET="bench-jwt-secret-" + secrets.token_hex(16),
            JWT_ACCESS_EXPIRY="86400",
            JWT_REFRESH_EXPIRY="86400",
            PUBLIC_HOST=f"127.0.0.1:{port}",
            ROOT_EMAIL="root@example.test",
            ROOT_PASSWORD=ROOT_PASSWORD,
            EMAIL_NAME="BriefThreat",
            EMAIL_FROM="noreply@example.test",
            DATA_DIR=str(data_dir),
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=str(sink.port),
            SMTP_SECURITY="none",
            RUST_LOG="info",
        )
        log(f"migrating {database} with target/release/migrate")
        migrate = subprocess.run([str(RELEASE / "migrate")], cwd=ROOT, env=env, capture_output=True, text=True,
                                 timeout=120)
        if migrate.returncode != 0:
            raise BenchError(f"migrate exited {migrate.returncode}:\n{migrate.stdout}{migrate.stderr}")

        lambdas = [b for b in binaries if b not in NOT_LAMBDAS]
        missing = [f for f in lambdas if f not in routes and f not in EVENT_FUNCTIONS]
        if missing:
            raise BenchError(f"no route for {missing} in Cargo.toml's router")
        results["cold_starts"] = section_cold_starts(lambdas, routes, env, tmp)
        mark_section("b")

        log("c. starting the emulator (target/release/lambda-emulator), and nginx in front of it")
        sink.parse = False  # c's e-mails are counted, not parsed (see SmtpSink)
        own_cpu_c = time.process_time()
        emu = Emulator(env, port, tmp / "emulator.log", [f for f in lambdas if f in routes or f in EVENT_FUNCTIONS])
        emu.wait_for_health()
        meta["emulator_command"] = emu.command
        meta["instances"] = emu.instances
        results["memory"] = {"idle": emu.idle_memory()}
        idle = results["memory"]["idle"]
        log(f"   {emu.instances} instances per HTTP function; idle RSS: emulator {idle['root_rss_kib'] / 1024:.1f} MiB, "
            f"whole tree {idle['rss_kib'] / 1024:.1f} MiB over {idle['processes']} processes")
        nginx = Nginx(f"127.0.0.1:{port}", tmp / "nginx-error.log")
        meta["nginx"] = nginx.version
        fronts = [
            {"name": "emulator", "base": emu.base, "verify": None},
            {"name": "nginx", "base": nginx.base, "verify": str(nginx.cert)},
        ]
        redis_before = redis_scripts_run(redis_url)
        login = checked_request("POST", emu.base + "/api/v1/auth/login", 200,
                                json={"username": "root", "password": ROOT_PASSWORD})
        if login is None or login.status_code != 200:
            raise BenchError(f"root login: {login.status_code if login is not None else 'no answer'}")
        token = login.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        submitter = add_bench_user(db_url)
        warm: list[dict] = []
        S = WRK_SECONDS
        log("   cargo lambda watch --only-lambda-apis beside it, for the floor rows")
        cargo_lambda = CargoLambda(env, tmp / "cargo-lambda.log")
        floor_fronts = [*fronts, {"name": "cargo-lambda", "base": cargo_lambda.base, "verify": None}]
        warm += warm_row(floor_fronts, tmp, "floor", "GET /bench/floor (floor)", "GET", FLOOR_PATH, {}, None, 200, S)
        cargo_lambda.stop()
        cargo_lambda = None
        results["floor_alone"] = floor_alone(env, tmp / "floor-alone.log")
        hops = [wrk(nginx.hop_base + "/", 1, WRK_SECONDS, None) for _ in range(WRK_RUNS)]
        results["bare_hop"] = {
            "rps": median([h["rps"] for h in hops]),
            "p50_ms": median([h["p50_ms"] for h in hops]),
            "p99_ms": median([h["p99_ms"] for h in hops]),
            "errors": sum(h["timeouts"] + h["socket_errors"] + h["non_2xx"] for h in hops),
        }
        log(f"   bare HTTP hop (wrk -> nginx return 200) c1: p50 {fmt_ms(results['bare_hop']['p50_ms'])}")
        warm += warm_row(fronts, tmp, "health", "GET /health", "GET", "/health", {}, None, 200, S)
        warm += warm_row(fronts, tmp, "whoami", "GET /api/v1/auth/login (whoami, root)", "GET", "/api/v1/auth/login",
                         auth, None, 200, S, "root has no forms")

        list_growth = []
        added = 0
        for forms in LIST_SIZES:
            log(f"   inserting forms: {added} -> {forms}")
            add_forms(db_url, submitter, added, forms - added)
            added = forms
            warm += warm_row(fronts, tmp, f"list{forms}", f"GET /api/v1/form ({forms:,} forms)", "GET", "/api/v1/form",
                             auth, None, 200, S)
            log(f"e. list timing at {forms} forms, {LIST_SAMPLES} sequential requests")
            list_growth.append(list_timing(emu, token, forms))
            log(f"   median {fmt_ms(list_growth[-1]['median_ms'])}")
        # The same list for a client that accepts gzip (the app does), when the build compresses.
        gzip_headers = {**auth, "Accept-Encoding": "gzip"}
        probe = checked_request("GET", emu.base + "/api/v1/form", 200, headers=gzip_headers, stream=True)
        if probe is None or probe.status_code != 200:
            raise BenchError("GET /api/v1/form with gzip: no 200 (see UNEXPECTED above)")
        gzip_on = probe.headers.get("Content-Encoding", "").lower() == "gzip"
        results["list_gzip"] = {"compressed": gzip_on, "wire_bytes": len(probe.raw.read(decode_content=False))}
        if gzip_on:
            warm += warm_row(fronts, tmp, "list_gzip", f"GET /api/v1/form ({LIST_SIZES[-1]:,} forms, gzip)", "GET",
                             "/api/v1/form", gzip_headers, None, 200, S,
                             f"{fmt_bytes(results['list_gzip']['wire_bytes'])} on the wire")
        else:
            log("   (no gzip row: this build does not compress the list)")

        form_body = json.dumps({"time": int(time.time()), "customer_name": "Bench Customer",
                                "course": "Benchmarking 101", "payment_method": "cash", "amount": "123.45",
                                "receipt": "R-bench"})
        json_headers = {"Content-Type": "application/json"}
        warm += warm_row(fronts, tmp, "form_post", "POST /api/v1/form", "POST", "/api/v1/form",
                         {**auth, **json_headers}, form_body, 200, S,
                         "writes a form + queues 1 e-mail, which `email` sends meanwhile (invoked after the commit)")
        # The e-mails of those posts go out while the rows run; what is left must not run
        # beside the next rows.
        waited, waiting = outbox_drained(db_url, 120)
        results["c_email"] = {"drain_wait_s": round(waited, 2), "still_waiting": waiting,
                              "sink_received": sink.received()}
        log(f"   form posts' e-mail: {waited:.1f} s until the outbox was empty ({waiting} still waiting); "
            f"the sink got {results['c_email']['sink_received']}")
        login_body = json.dumps({"username": "root", "password": ROOT_PASSWORD})
        warm += warm_row(fronts, tmp, "login_post", "POST /api/v1/auth/login (200)", "POST", "/api/v1/auth/login",
                         json_headers, login_body, 200, WRK_LOGIN_SECONDS, "argon2 verify")
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

        results["login_timing"] = section_login_timing(emu)
        mark_section("d")
        results["list_growth"] = {
            "sizes": list_growth,
            "ratio": list_growth[-1]["median_ms"] / list_growth[0]["median_ms"],
        }
        results["email"] = section_email(emu, db_url, sink)
        mark_section("f")
        loaded = results["memory"]["after_loads"] = tree_memory(emu.proc.pid)
        log(f"   RSS after the loads: whole tree {loaded['rss_kib'] / 1024:.1f} MiB over {loaded['processes']} "
            f"processes (PSS {(loaded['pss_kib'] or 0) / 1024:.1f} MiB), emulator {loaded['root_rss_kib'] / 1024:.1f} MiB")
        ours = [w for w in warm if w["via"] != "cargo-lambda"]
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
    except BenchError as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        if nginx is not None:
            nginx.stop()
        if cargo_lambda is not None:
            cargo_lambda.stop()
        if emu is not None:
            emu.stop()
        sink.stop()
        try:
            sql(admin_url, f"DROP DATABASE IF EXISTS `{database}`")
        except Exception as e:  # noqa: BLE001 - cleanup must not hide the result
            log(f"could not drop {database}: {e}")

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


if __name__ == "__main__":
    sys.exit(main())
