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
  c  warm latency and throughput through `cargo lambda watch --release` (default
     concurrency: one instance per function, requests to it are served one at a time),
     with wrk at 1 and 16 connections, each row twice: straight to the emulator (HTTP) and
     through nginx in front of it (HTTPS; local/nginx/briefthreat.conf.template rendered
     by local/render_nginx.py, a throwaway self-signed certificate). Each: BENCH_WRK_WARMUP
     s (1) of warm-up, then the median of BENCH_WRK_RUNS (3) runs of BENCH_WRK_SECONDS s
     (3); rows with a 2 MB answer: one run of BENCH_WRK_LARGE_SECONDS s (6), the emulator
     restarted first (its bug, see Emulator.ensure_alive)
  d  login timing: unknown user vs known user with a wrong password, 40 each, interleaved
  e  list growth: GET /api/v1/form as admin at 100 and at 10,000 forms, median of 20
  f  e-mail throughput: BENCH_EMAILS (10,000) queued messages delivered by invoking
     `email` over SMTP to an aiosmtpd sink in this process (tests/smtp_sink.py), with the
     CPU time the `email` instance and the sink spent on them
  g  argon2: `shared/examples/argon2_timing.rs`

Everything runs the production code path: FLASK_ENV=production with Redis, so every
rate-limited request pays its Redis check; RATELIMIT_DEFAULT=1000000/second refuses none.

Prints progress on stderr, then ONE table on stdout; writes target/bench/bench.txt (the
table) and target/bench/bench.json (the table and every raw figure). Uses the project
venv's packages (requests, pymysql, aiosmtpd) and the standard library.
"""

from __future__ import annotations

import datetime as dt
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from smtp_sink import SmtpSink  # noqa: E402  (tests/smtp_sink.py, the tests' SMTP server)
# the tests' process helpers: stop cargo-lambda and every function instance below it
from conftest import _descendants as descendants, free_port, stop_server  # noqa: E402

RELEASE = ROOT / "target" / "release"
OUT_DIR = ROOT / "target" / "bench"
CARGO_LAMBDA = ROOT / os.environ.get("CARGO_LAMBDA", ".venv/bin/cargo-lambda")


def env_number(key: str, default: float) -> float:
    value = os.environ.get(key, "").strip()
    return float(value) if value else default


# 8 rows x 2 connection counts x (emulator, nginx): keep the whole run near 10 minutes.
WRK_SECONDS = int(env_number("BENCH_WRK_SECONDS", 3))
WRK_WARMUP = int(env_number("BENCH_WRK_WARMUP", 1))
WRK_RUNS = int(env_number("BENCH_WRK_RUNS", 3))
WRK_LOGIN_SECONDS = int(env_number("BENCH_WRK_LOGIN_SECONDS", 2))  # argon2-bound: fewer
WRK_LARGE_SECONDS = int(env_number("BENCH_WRK_LARGE_SECONDS", 6))  # one run, see the docstring
WRK_TIMEOUT = "5s"
CONNECTIONS = (1, 16)
COLD_RUNS = int(env_number("BENCH_COLD_RUNS", 5))
LOGIN_SAMPLES = 60
LIST_SAMPLES = 20
LIST_SIZES = (100, 10_000)
EMAILS = int(env_number("BENCH_EMAILS", 10_000))
HTTP_TIMEOUT = 30.0  # seconds, every request made with `requests`
LIST_GET_TIMEOUT = 5.0  # seconds, before a list GET counts as lost by the emulator
START_TIMEOUT = 600.0  # seconds, cargo lambda watch until /health (a release build may run)
STOP_TIMEOUT = 15.0
SETTLE = 0.5  # seconds after a wrk run before looking for a dead function instance
PROBE_TIMEOUT = 5.0  # seconds, a small GET that tells whether a function instance still answers
# wrk sends no Accept-Encoding; every other request here says the same (identity), so that
# all figures are for uncompressed bodies unless a row says gzip.
IDENTITY = {"Accept-Encoding": "identity"}
EMULATOR = None  # the running `cargo lambda watch`, once started (for recovery in checked_request)

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
NOT_LAMBDAS = {"migrate"}  # a command-line step, not a function
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


# --- c. warm figures through cargo lambda watch ------------------------------------------------

class Emulator:
    """`cargo lambda watch --release` on a free loopback port, started like tests/conftest.py
    starts it (configuration in its environment; RUST_LOG for the functions only)."""

    def __init__(self, env: dict, port: int, logfile: Path):
        self.base = f"http://127.0.0.1:{port}"
        self.logfile = logfile
        self.env = env
        self.port = port
        self.restarts = 0
        self.exits_seen = 0
        logfile.write_bytes(b"")
        self._start()

    def _start(self) -> None:
        server_env = {k: v for k, v in self.env.items() if k != "RUST_LOG"}
        with open(self.logfile, "ab") as out:
            self.proc = subprocess.Popen(
                [
                    str(CARGO_LAMBDA), "lambda", "watch", "--release",
                    "-A", "127.0.0.1", "-P", str(self.port), "--ignore-changes",
                    "--env-var", f"RUST_LOG={self.env['RUST_LOG']}",
                ],
                cwd=ROOT, env=server_env, stdin=subprocess.DEVNULL,
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            )

    def instance_exits(self) -> int:
        """Function instances that have exited so far (cargo-lambda logs each one)."""
        try:
            return len(re.findall(r"command exited", self.logfile.read_text(errors="replace")))
        except OSError:
            return 0

    def answers(self, path: str, timeout: float = PROBE_TIMEOUT) -> bool:
        """Does GET `path` (unauthenticated: a small answer from the same function) come back
        within `timeout`, other than as the emulator's own 500?"""
        try:
            resp = requests.get(self.base + path, headers=IDENTITY, timeout=timeout, allow_redirects=False)
        except requests.RequestException:
            return False
        return not is_emulator_500(resp)

    def ensure_alive(self, probe: str | None = None, warm=None, force: bool = False) -> bool:
        """KNOWN EMULATOR BUG (cargo-lambda 1.9.2): when a client gives up on a request whose
        response is large (wrk does at the end of every run; a timed-out GET does), the
        emulator answers the function's response POST with 500 without reading its body;
        the instance is stuck writing it until its runtime gets EPIPE and exits, and
        cargo-lambda never starts another instance: every later request to that function
        hangs. So: if an instance exited since the last look, or GET `probe` gets no answer,
        or `force`, restart the emulator and warm up again with `warm()` (sequential
        requests, none abandoned). True when it restarted."""
        time.sleep(SETTLE)  # let an abandoned request finish (or break the instance)
        exits = self.instance_exits()
        why = "forced" if force else None
        if why is None and exits != self.exits_seen:
            why = "a function instance exited"
        if why is None and probe is not None and not self.answers(probe):
            why = f"GET {probe} got no answer in {PROBE_TIMEOUT:.0f}s"
        if why is None:
            return False
        log(f"   restarting cargo lambda watch ({why}; emulator bug, see README)")
        self.stop()
        self.restarts += 1
        self._start()
        self.wait_for_health()
        self.exits_seen = self.instance_exits()
        if probe is not None:
            # Start the instance with a small answer (a large one could be lost again).
            self.answers(probe, timeout=START_TIMEOUT)
        if warm is not None:
            warm()
        return True

    def wait_for_health(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        next_note = time.monotonic() + 15
        last = "no answer"
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"cargo lambda watch exited {self.proc.returncode}:\n{tail(self.logfile)}")
            try:
                resp = requests.get(self.base + "/health", timeout=HTTP_TIMEOUT)
                if resp.status_code == 200:
                    return
                last = f"{resp.status_code} {resp.text[:300]}"
            except requests.RequestException as e:
                last = repr(e)
            if time.monotonic() > deadline:
                raise BenchError(f"GET /health not 200 after {START_TIMEOUT:.0f}s (last: {last}):\n{tail(self.logfile)}")
            if time.monotonic() > next_note:
                log("   still waiting for /health (cargo may be checking the release build)")
                next_note += 15
            time.sleep(0.25)

    def invoke(self, function: str, payload=None, timeout: float = 120):
        resp = requests.post(f"{self.base}/2015-03-31/functions/{function}/invocations",
                             json=payload or {}, timeout=timeout)
        if resp.status_code != 200:
            raise BenchError(f"invoke {function}: {resp.status_code} {resp.text[:500]}")
        return resp.json() if resp.content else None

    def stop(self) -> None:
        stop_server(self.proc)


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
        while self.https_port == self.http_port:
            self.https_port = free_port()
        self.base = f"https://127.0.0.1:{self.https_port}"
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
    # The share of the run during which the connections had an answered request under way.
    # Well below 1: a request hung (the emulator lost a response, its bug) and the
    # connection sat idle, so req/s says more about the bug than about the function.
    if result["avg_ms"] and result["duration_ms"]:
        result["busy"] = result["requests"] * result["avg_ms"] / (result["duration_ms"] * connections)
    else:
        result["busy"] = 0.0
    return result


STALLED_BELOW = 0.7  # `busy` share under which a wrk run is done again (at most twice)


def is_emulator_500(resp: requests.Response) -> bool:
    """cargo-lambda's own 500 (problem+json), not the function's (tests/conftest.py)."""
    return resp.status_code == 500 and '"https://httpstatuses.com/500"' in resp.text


def checked_request(method: str, url: str, expect: int, **kwargs) -> requests.Response:
    """One request that must answer `expect`; the emulator's known failures are retried
    (after a lost request the emulator is restarted: see Emulator.ensure_alive)."""
    kwargs.setdefault("timeout", HTTP_TIMEOUT)
    headers = {**IDENTITY, **kwargs.pop("headers", {})}
    for attempt in range(1, 4):
        try:
            resp = requests.request(method, url, headers=headers, allow_redirects=False, **kwargs)
        except requests.ReadTimeout:
            log(f"   {method} {url}: no answer, retrying (emulator bug)")
            if EMULATOR is not None:
                EMULATOR.ensure_alive(force=True)
            continue
        if is_emulator_500(resp) and attempt < 3:
            log(f"   {method} {url}: the emulator's own 500, retrying (emulator bug)")
            continue
        if resp.status_code in (502, 504) and url.startswith("https://") and attempt < 3:
            log(f"   {method} {url}: nginx {resp.status_code} (the emulator behind it), retrying")
            if EMULATOR is not None:
                EMULATOR.ensure_alive(force=True)
            continue
        if resp.status_code != expect:
            raise BenchError(f"{method} {url}: expected {expect}, got {resp.status_code} {resp.text[:300]}")
        return resp
    raise BenchError(f"{method} {url}: no answer after 3 attempts")


FLOOR_PATH = "/bench/floor"
FLOOR_SECONDS = 1  # the floor run beside each run of a row


def floor_run(emu: Emulator, front: dict, connections: int) -> dict:
    """A short run of the floor through `front`, right after a run of a row: the two share
    whatever else the machine was doing at that moment, so their ratio is steadier than a
    ratio to the floor row measured minutes earlier."""
    url = front["base"] + FLOOR_PATH
    emu.ensure_alive(FLOOR_PATH)
    checked_request("GET", url, 200, verify=front["verify"])  # an instance up after a restart
    return wrk(url, connections, FLOOR_SECONDS, None)


def warm_row(emu: Emulator, fronts: list[dict], tmp: Path, key: str, label: str, method: str, path: str,
             headers: dict, body: str | None, expect: int, seconds: int, note: str = "",
             large: bool = False) -> list[dict]:
    """One row per connection count and front (the emulator itself, nginx in front of it).
    Per connection count: a WRK_WARMUP s wrk warm-up through each front, then WRK_RUNS
    rounds, each one run of `seconds` through every front in turn, every run followed by a
    FLOOR_SECONDS run of the floor through the same front (the paired floor of the ratio);
    medians per front. Before each run the function is checked with a small unauthenticated
    GET of the same path, and the emulator restarted (and warmed up with sequential
    requests) if the instance is gone; a run that stalled (a response lost by the
    emulator, see wrk()) is done again, at most twice. `large`: the response is big enough
    for the emulator bug to break the instance at the end of every run, so the emulator is
    restarted before each run, and there is one round of WRK_LARGE_SECONDS."""
    runs_per_row = 1 if large else WRK_RUNS
    if large:
        seconds = WRK_LARGE_SECONDS
    script = lua_script(tmp, key, method, headers, body) if (method != "GET" or headers or body) else None
    is_floor = path == FLOOR_PATH

    def sequential_warm_up(front):
        url, verify = front["base"] + path, front["verify"]
        deadline = time.monotonic() + WRK_WARMUP
        while time.monotonic() < deadline:
            checked_request(method, url, expect, headers=headers, data=body, timeout=LIST_GET_TIMEOUT, verify=verify)

    rows = []
    for connections in CONNECTIONS:
        log(f"   {label} c{connections}: warm-up {WRK_WARMUP}s, then {runs_per_row} x {seconds}s through "
            f"{' and '.join(f['name'] for f in fronts)}" + ("" if is_floor else f", each + {FLOOR_SECONDS}s of floor"))
        restarts_before, exits_before = emu.restarts, emu.instance_exits()
        for front in fronts:
            # The probe also starts the instance if needed (cargo run: a no-op after the build).
            emu.ensure_alive(path, lambda front=front: sequential_warm_up(front))
            checked_request(method, front["base"] + path, expect, headers=headers, data=body,
                            timeout=LIST_GET_TIMEOUT, verify=front["verify"])
            if not large:
                wrk(front["base"] + path, connections, WRK_WARMUP, script)
        per_front = {front["name"]: {"runs": [], "stalled": [], "floor": []} for front in fronts}
        for _ in range(runs_per_row):
            for front in fronts:
                mine = per_front[front["name"]]
                for attempt in range(3):
                    emu.ensure_alive(path, lambda front=front: sequential_warm_up(front), force=large or attempt > 0)
                    run = wrk(front["base"] + path, connections, seconds, script)
                    if run["busy"] >= STALLED_BELOW or attempt == 2:
                        break
                    mine["stalled"].append(round(run["busy"], 2))
                    log(f"      {front['name']}: stalled run (answered requests under way {run['busy']:.0%} of the "
                        f"time: the emulator lost a response, its bug), once more: {fmt_rate(run['rps'])} req/s, "
                        f"p50 {fmt_ms(run['p50_ms'])}")
                mine["runs"].append(run)
                mine["floor"].append(run if is_floor else floor_run(emu, front, connections))
        if large:  # leave a working emulator for what comes next
            emu.ensure_alive(path, force=True)
        for front in fronts:
            mine = per_front[front["name"]]
            runs = mine["runs"]
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
                "paired_floor_p50_ms": median([r["p50_ms"] for r in mine["floor"] if r["requests"]]),
                "paired_floor_p50_runs_ms": [r["p50_ms"] for r in mine["floor"]],
                "requests": sum(r["requests"] for r in runs),
                "timeouts": sum(r["timeouts"] for r in runs),
                "socket_errors": sum(r["socket_errors"] for r in runs),
                "non_2xx": sum(r["non_2xx"] for r in runs),
                "large_response_restarts": large,
                # for the row's connection count, both fronts together
                "instance_exits": emu.instance_exits() - exits_before,
                "emulator_restarts": emu.restarts - restarts_before,
                "stalled_runs_redone_busy": mine["stalled"],
                "busy_runs": [round(r["busy"], 3) for r in runs],
                "still_stalled": sum(1 for r in runs if r["busy"] < STALLED_BELOW),
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
                f"timeouts {row['timeouts']}, errors {row['socket_errors']}, non-2xx {row['non_2xx']}")
        log(f"      instance exits {emu.instance_exits() - exits_before}, "
            f"emulator restarts {emu.restarts - restarts_before}")
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
    emu.ensure_alive("/api/v1/auth/login")
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
                ms, resp = timed(session, "POST", url, json=cases[case], timeout=HTTP_TIMEOUT)
                if resp.status_code != 401:
                    raise BenchError(f"login {case}: expected 401, got {resp.status_code} {resp.text[:200]}")
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
    samples, lost, emulator_500, size = [], 0, 0, None
    emu.ensure_alive("/api/v1/form")
    checked_request("GET", url, 200, headers=headers, timeout=LIST_GET_TIMEOUT)  # warm, not sampled
    with requests.Session() as session:
        session.headers.update(IDENTITY)
        while len(samples) < LIST_SAMPLES:
            if lost + emulator_500 > 3 * LIST_SAMPLES:
                raise BenchError(f"GET /api/v1/form ({forms} forms): {lost} lost, {emulator_500} emulator 500s")
            try:
                ms, resp = timed(session, "GET", url, headers=headers, timeout=LIST_GET_TIMEOUT)
            except requests.ReadTimeout:
                lost += 1  # the emulator bug (README): counted and reported, not sampled
                session.close()
                emu.ensure_alive("/api/v1/form", force=True)  # giving up on it breaks the instance
                checked_request("GET", url, 200, headers=headers, timeout=LIST_GET_TIMEOUT)  # warm again
                continue
            if is_emulator_500(resp):
                emulator_500 += 1  # its other face: counted and reported, not sampled
                continue
            if resp.status_code != 200:
                raise BenchError(f"GET /api/v1/form: {resp.status_code} {resp.text[:200]}")
            count = len(resp.json())
            if count < forms:
                raise BenchError(f"GET /api/v1/form listed {count} forms, expected {forms}")
            size = len(resp.content)
            samples.append(ms)
    emu.ensure_alive("/api/v1/form", force=forms >= 10_000)  # a lost request may be stuck in it
    return {"forms": forms, "median_ms": median(samples), "response_bytes": size, "lost_no_answer_in_5s": lost,
            "emulator_500s": emulator_500, "samples_ms": [round(x, 2) for x in samples]}


# --- f. e-mail throughput ---------------------------------------------------------------------

def cpu_seconds(pid: int):
    """utime + stime of a process so far, in seconds (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def instance_pid(emu: Emulator, function: str):
    """The running instance of `function` under the emulator (cargo run's child)."""
    for pid in descendants(emu.proc.pid):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == function[:15]:
                return pid
        except OSError:
            continue
    return None


def section_email(emu: Emulator, db_url: str, sink: SmtpSink) -> dict:
    log(f"f. e-mail throughput: {EMAILS} messages through `email` to the SMTP sink")
    emu.ensure_alive("/health")
    sql(db_url, "DELETE FROM email_outbox")  # what the POST /api/v1/form runs queued
    emu.invoke("email")  # warm: the instance is up, the SMTP transport built
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
    ours = sum(1 for m in received if str(m.message["Subject"] or "").startswith(marker))
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
        name = s["function"] + ("" if s["lambda"] else " (CLI, not a Lambda)")
        rows.append(["a", f"size {name}", "", "", "", "",
                     f"binary {fmt_bytes(s['binary_bytes'])}, zip {fmt_bytes(s['zip_bytes'])}"])

    floor_cold = next((c["median_ms"] for c in r["cold_starts"] if c["function"] == "floor"), None)
    for c in r["cold_starts"]:
        ratio = c["median_ms"] / floor_cold if floor_cold else None
        rss = f"{c['peak_rss_kib'] / 1024:.1f} MiB" if c["peak_rss_kib"] else "-"
        rows.append(["b", f"cold start {c['function']}", "", fmt_ms(c["median_ms"]), "", fmt_ratio(ratio),
                     f"peak RSS {rss}; min–max {fmt_ms(c['min_ms'])}–{fmt_ms(c['max_ms'])}; "
                     f"{c['event']} → {c['status'] if c['status'] is not None else 'ok'}"])

    direct_p50 = {(w["key"], w["connections"]): w["p50_ms"] for w in r["warm"] if w["via"] == "emulator"}
    for w in r["warm"]:
        base = w["paired_floor_p50_ms"]
        ratio = w["p50_ms"] / base if (base and w["p50_ms"] is not None) else None
        figures = []
        if w["key"] != "floor" and base is not None:
            figures.append(f"floor beside it {fmt_ms(base)}")
        if w["via"] == "nginx":
            direct = direct_p50.get((w["key"], w["connections"]))
            if direct is not None and w["p50_ms"] is not None:
                delta = w["p50_ms"] - direct
                figures.append(f"nginx {delta:+.2f} ms at p50" if abs(delta) < 10 else f"nginx {delta:+,.0f} ms at p50")
        if w["note"] and w["via"] == "emulator":
            figures.append(w["note"])
        problems = [f"{n} {what}" for n, what in ((w["timeouts"], "timeouts"), (w["socket_errors"], "socket errors"),
                                                    (w["non_2xx"], "non-2xx")) if n]
        figures.append(", ".join(problems) if problems else "no errors")
        if w["large_response_restarts"]:
            figures.append("1 run, emulator restarted first (its bug)")
        if w["stalled_runs_redone_busy"]:
            figures.append(f"{len(w['stalled_runs_redone_busy'])} stalled run(s) done again (emulator bug)")
        if w["still_stalled"]:
            figures.append(f"STALLED: req/s understated, {w['still_stalled']} run(s) lost a response (emulator bug)")
        where = "" if w["via"] == "emulator" else " · nginx"
        rows.append(["c", f"{w['label']} c{w['connections']}{where}", fmt_rate(w["rps"]), fmt_ms(w["p50_ms"]),
                     fmt_ms(w["p99_ms"]), fmt_ratio(ratio), "; ".join(figures)])

    d = r["login_timing"]
    rows.append(["d", "login 401, unknown user", "", fmt_ms(d["unknown_user_median_ms"]), "", "",
                 f"{d['samples']} sequential, interleaved"])
    rows.append(["d", "login 401, known user + wrong password", "", fmt_ms(d["wrong_password_median_ms"]), "", "",
                 f"ratio {d['ratio_wrong_over_unknown']:.3f} "
                 f"({'within' if d['within_10_percent'] else 'NOT within'} 10%)"])

    e = r["list_growth"]
    for item in e["sizes"]:
        rows.append(["e", f"GET /api/v1/form, {item['forms']:,} forms", "", fmt_ms(item["median_ms"]), "", "",
                     f"{LIST_SAMPLES} sequential; {fmt_bytes(item['response_bytes'])} body; "
                     f"emulator bug: no answer in 5 s {item['lost_no_answer_in_5s']}, "
                     f"emulator 500 {item['emulator_500s']} (retried, not sampled)"])
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
        f"c: `cargo lambda watch --release`, default --concurrency 1 (one instance per function, requests to it "
        f"served one at a time; 16 connections queue); wrk -t1 -c1 / -t2 -c16 --timeout {WRK_TIMEOUT}, "
        f"{WRK_WARMUP} s warm-up then median of {WRK_RUNS} runs of {WRK_SECONDS} s ({WRK_LOGIN_SECONDS} s for login; "
        f"2 MB answers: 1 run of {WRK_LARGE_SECONDS} s), direct and `· nginx` runs taking turns. `· nginx`: the same "
        f"load over HTTPS (keep-alive) through nginx {m.get('nginx', '?')} with local/nginx/briefthreat.conf.template "
        f"(1 worker, self-signed P-256 certificate) in front of the same emulator. ÷ floor = p50 / p50 of GET "
        f"/bench/floor (a do-nothing lambda_http function under the same emulator) at the same connection count, "
        f"the same way (direct or through nginx), in a {FLOOR_SECONDS} s run right after each run of the row (the "
        f"median of those: \"floor beside it\"); the floor rows are its own longer runs. b: median / floor's "
        f"median. A run in which a response got lost (the emulator's bug: connections idle for much of the run) is "
        f"done again, at most twice.",
        "f: the e-mails go to an aiosmtpd sink in the benchmark's own Python process, which parses every "
        "message: at these rates the sink, not the `email` function, is the bottleneck (see the CPU shares).",
        f"Total {m['total_seconds']:.0f} s after the release build ({sections})."
        + (f" WARNING: cargo compiled {', '.join(m['compiled_during_run'])} during the run: c–f are off."
           if m.get("compiled_during_run") else ""),
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


def main() -> int:
    global EMULATOR
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
    for path in (CARGO_LAMBDA, RELEASE / "migrate"):
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
    # Logs of this run (migrate, cold starts, cargo lambda watch, wrk scripts) stay for inspection.
    tmp = OUT_DIR / "logs"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    database = f"bt_bench_{secrets.token_hex(4)}"
    db_url = f"{admin_url.rstrip('/')}/{database}"
    sink = SmtpSink(free_port())
    sink.start()
    emu: Emulator | None = None
    nginx: Nginx | None = None
    try:
        binaries = workspace_binaries()
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

        log("c. starting cargo lambda watch --release, and nginx in front of it")
        emu = EMULATOR = Emulator(env, port, tmp / "cargo-lambda.log")
        emu.wait_for_health()
        nginx = Nginx(f"127.0.0.1:{port}", tmp / "nginx-error.log")
        meta["nginx"] = nginx.version
        fronts = [
            {"name": "emulator", "base": emu.base, "verify": None},
            {"name": "nginx", "base": nginx.base, "verify": str(nginx.cert)},
        ]
        redis_before = redis_scripts_run(redis_url)
        login = requests.post(emu.base + "/api/v1/auth/login", json={"username": "root", "password": ROOT_PASSWORD},
                              timeout=HTTP_TIMEOUT)
        if login.status_code != 200:
            raise BenchError(f"root login: {login.status_code} {login.text[:300]}")
        token = login.json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        submitter = add_bench_user(db_url)
        warm: list[dict] = []
        S = WRK_SECONDS
        warm += warm_row(emu, fronts, tmp, "floor", "GET /bench/floor (floor)", "GET", "/bench/floor", {}, None, 200, S)
        warm += warm_row(emu, fronts, tmp, "health", "GET /health", "GET", "/health", {}, None, 200, S)
        warm += warm_row(emu, fronts, tmp, "whoami", "GET /api/v1/auth/login (whoami, root)", "GET", "/api/v1/auth/login",
                         auth, None, 200, S, "root has no forms")

        list_growth = []
        added = 0
        for forms in LIST_SIZES:
            log(f"   inserting forms: {added} -> {forms}")
            add_forms(db_url, submitter, added, forms - added)
            added = forms
            warm += warm_row(emu, fronts, tmp, f"list{forms}", f"GET /api/v1/form ({forms:,} forms)", "GET", "/api/v1/form",
                             auth, None, 200, S, large=forms >= 10_000)
            log(f"e. list timing at {forms} forms, {LIST_SAMPLES} sequential requests")
            list_growth.append(list_timing(emu, token, forms))
            log(f"   median {fmt_ms(list_growth[-1]['median_ms'])}")
        # The same list for a client that accepts gzip (the app does), when the build compresses.
        gzip_headers = {**auth, "Accept-Encoding": "gzip"}
        probe = checked_request("GET", emu.base + "/api/v1/form", 200, headers=gzip_headers, stream=True)
        gzip_on = probe.headers.get("Content-Encoding", "").lower() == "gzip"
        results["list_gzip"] = {"compressed": gzip_on, "wire_bytes": len(probe.raw.read(decode_content=False))}
        if gzip_on:
            warm += warm_row(emu, fronts, tmp, "list_gzip", f"GET /api/v1/form ({LIST_SIZES[-1]:,} forms, gzip)", "GET",
                             "/api/v1/form", gzip_headers, None, 200, S,
                             f"{fmt_bytes(results['list_gzip']['wire_bytes'])} on the wire", large=True)
        else:
            log("   (no gzip row: this build does not compress the list)")

        form_body = json.dumps({"time": int(time.time()), "customer_name": "Bench Customer",
                                "course": "Benchmarking 101", "payment_method": "cash", "amount": "123.45",
                                "receipt": "R-bench"})
        json_headers = {"Content-Type": "application/json"}
        warm += warm_row(emu, fronts, tmp, "form_post", "POST /api/v1/form", "POST", "/api/v1/form",
                         {**auth, **json_headers}, form_body, 200, S, "writes a form + queues 1 e-mail")
        login_body = json.dumps({"username": "root", "password": ROOT_PASSWORD})
        warm += warm_row(emu, fronts, tmp, "login_post", "POST /api/v1/auth/login (200)", "POST", "/api/v1/auth/login",
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

        results["login_timing"] = section_login_timing(emu)
        mark_section("d")
        results["list_growth"] = {
            "sizes": list_growth,
            "ratio": list_growth[-1]["median_ms"] / list_growth[0]["median_ms"],
        }
        results["email"] = section_email(emu, db_url, sink)
        mark_section("f")
    except BenchError as e:
        log(f"FAILED: {e}")
        return 1
    finally:
        if nginx is not None:
            nginx.stop()
        if emu is not None:
            emu.stop()
        sink.stop()
        try:
            sql(admin_url, f"DROP DATABASE IF EXISTS `{database}`")
        except Exception as e:  # noqa: BLE001 - cleanup must not hide the result
            log(f"could not drop {database}: {e}")

    meta["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    # `cargo lambda watch` runs `cargo run --release`: if the tree changed since the build,
    # it compiled while the clocks ran and the warm figures are not to be trusted.
    compiled = re.findall(r"^\s*Compiling (\S+)", tail(tmp / "cargo-lambda.log", 10**9), re.M)
    meta["compiled_during_run"] = sorted(set(compiled))
    if compiled:
        log(f"WARNING: cargo compiled {sorted(set(compiled))} during the run (the tree changed): warm figures are off")
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
