"""Black-box harness: the whole backend behind `cargo lambda watch`, on SQLite and MariaDB.

The session fixture `api` is parametrized over the backends ("sqlite", "mariadb"); every test
that uses it runs once per backend, the backends one after the other. For each backend it
creates a fresh database, runs `target/debug/migrate`, starts
`.venv/bin/cargo-lambda lambda watch --ignore-changes` on a free port with the test
configuration in its environment (the function processes inherit it), and waits for
/health. MariaDB and Redis come from local/harness.py (TEST_MYSQL_ADMIN_URL,
TEST_REDIS_URL); `make test` runs pytest under it. The binaries must already be built
(`cargo build --workspace --bins`) so that no request waits for a compile.

Debugging knobs (environment): TEST_RUST_LOG (the functions' RUST_LOG, default info),
TEST_CARGO_LAMBDA_LOG (cargo-lambda's own RUST_LOG, e.g. cargo_lambda_watch=trace),
TEST_CARGO_LAMBDA_ARGS (extra `cargo lambda watch` arguments). Each backend's server log
is `api.log_path`, under pytest's basetemp.
"""

from __future__ import annotations

import html
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
MIGRATE = ROOT / "target" / "debug" / "migrate"
# `make test` passes its venv's cargo-lambda; the project-local .venv otherwise.
CARGO_LAMBDA = ROOT / os.environ.get("CARGO_LAMBDA", ".venv/bin/cargo-lambda")
BACKENDS = ["sqlite", "mariadb"]
TIMEOUT = 30  # seconds, every HTTP request
GET_TIMEOUT = 10  # seconds, a GET before it is retried
EMULATOR_RETRIES = 3
START_TIMEOUT = 60  # seconds, until /health answers 200
STOP_TIMEOUT = 15

# Keys a developer's .env or shell may hold that the test configuration does not set: set
# to "" so that neither leaks in (the binaries treat a blank key as unset, and .env never
# overrides a variable that is present in the environment, even an empty one).
SHIELDED_KEYS = [
    "MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE",
    "SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_USER", "SMTP_PASSWORD",
    "RATELIMIT_DEFAULT", "CLEANUP_INTERVAL", "PUBLIC_SCHEME", "MIGRATE_ON_START",
    "REDIS_URL", "TRUSTED_PROXIES",
]


def first_link(page: str) -> str:
    """The first http(s) URL in an HTML (or text) document, with `&amp;` unescaped."""
    match = re.search(r"https?://[^\s\"'<>]+", page)
    assert match, f"no link in:\n{page}"
    return html.unescape(match.group(0))


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _mysql_params(url: str) -> dict:
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
    database = parts.path.lstrip("/")
    if database:
        params["database"] = unquote(database)
    return params


def _mysql_connect(url: str):
    import pymysql  # noqa: PLC0415 - only the mariadb backend needs it
    import pymysql.cursors  # noqa: PLC0415

    return pymysql.connect(cursorclass=pymysql.cursors.DictCursor, **_mysql_params(url))


class Api:
    """What a test gets as `api`: the server's address and config, HTTP and SQL helpers."""

    def __init__(self, backend: str, base: str, env: dict, db_path: Path | None, mysql_url: str | None,
                 log_path: Path):
        self.backend = backend
        self.base = base
        self.env = env
        self.log_path = log_path  # cargo-lambda's and the functions' output
        self._db_path = db_path
        self._mysql_url = mysql_url

    def __repr__(self) -> str:
        return f"Api({self.backend}, {self.base}, log {self.log_path})"

    # -- HTTP: `path` is appended to `base` verbatim (requests keeps `//api/...` as is).
    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        if method != "GET" or "timeout" in kwargs:
            kwargs.setdefault("timeout", TIMEOUT)
            return requests.request(method, self.base + path, **kwargs)
        # cargo-lambda's emulator (1.9.2) acknowledges a function's response before reading
        # its body, and now and then loses a large one (a long form list): the request then
        # never completes. GETs are safe to repeat, so they are retried; the workaround is
        # logged so that it never hides a slow function.
        # (Sometimes it answers 500 with its own problem+json body instead.)
        for attempt in range(1, EMULATOR_RETRIES + 1):
            try:
                resp = requests.request(method, self.base + path, timeout=GET_TIMEOUT, **kwargs)
            except requests.ReadTimeout:
                if attempt == EMULATOR_RETRIES:
                    raise
                print(f"[{self.backend}] GET {path}: no answer in {GET_TIMEOUT}s, retrying (emulator bug)")
                continue
            if resp.status_code == 500 and '"https://httpstatuses.com/500"' in resp.text and attempt < EMULATOR_RETRIES:
                print(f"[{self.backend}] GET {path}: the emulator's own 500, retrying (emulator bug)")
                continue
            return resp

    def get(self, path: str, **kwargs) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def put(self, path: str, **kwargs) -> requests.Response:
        return self.request("PUT", path, **kwargs)

    def patch(self, path: str, **kwargs) -> requests.Response:
        return self.request("PATCH", path, **kwargs)

    def delete(self, path: str, **kwargs) -> requests.Response:
        return self.request("DELETE", path, **kwargs)

    # -- SQL against this backend's database; `?` placeholders on both backends; commits.
    def sql(self, query: str, params=()) -> list[dict]:
        if self.backend == "sqlite":
            conn = sqlite3.connect(self._db_path, timeout=30)
            conn.row_factory = sqlite3.Row
            try:
                cur = conn.execute(query, tuple(params))
                rows = [dict(row) for row in cur.fetchall()] if cur.description else []
                conn.commit()
                return rows
            finally:
                conn.close()
        conn = _mysql_connect(self._mysql_url)
        try:
            with conn.cursor() as cur:
                if params:
                    # pymysql formats with %s: escape literal % first, then map ? to %s.
                    cur.execute(query.replace("%", "%%").replace("?", "%s"), tuple(params))
                else:
                    cur.execute(query)
                rows = list(cur.fetchall()) if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()

    def outbox(self) -> list[dict]:
        return self.sql("SELECT * FROM email_outbox ORDER BY id")

    def invoke(self, function: str, payload=None, timeout: float = 60):
        """A non-HTTP function (e.g. `email`) through the Lambda Invoke API; its JSON result."""
        return invoke(self.base, function, payload, timeout)


def _descendants(pid: int) -> list[int]:
    """All processes below `pid` (function instances run in their own process groups)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM lets cargo-lambda stop its function instances; then kill whatever is left."""
    if proc.poll() is None:
        leftovers = _descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        for pid in [*leftovers, *_descendants(proc.pid)]:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def _log_tail(path: Path, chars: int = 8000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def invoke(base: str, function: str, payload=None, timeout: float = 60):
    """Invokes a (non-HTTP) function through cargo-lambda's Lambda Invoke API; its JSON result."""
    resp = requests.post(
        f"{base}/2015-03-31/functions/{function}/invocations", json=payload or {}, timeout=timeout
    )
    assert resp.status_code == 200, f"invoke {function}: {resp.status_code} {resp.text[:500]}"
    return resp.json() if resp.content else None


def wait_for_health(proc: subprocess.Popen, base: str, log_path: Path, label: str = "server",
                    ready=lambda resp: resp.status_code == 200) -> None:
    """Waits until GET /health answers 200 (or what `ready` accepts); fails the test with
    the server log otherwise."""
    deadline = time.monotonic() + START_TIMEOUT
    last = "no answer"
    while True:
        if proc.poll() is not None:
            pytest.fail(f"[{label}] cargo-lambda exited {proc.returncode}:\n{_log_tail(log_path)}", pytrace=False)
        try:
            resp = requests.get(base + "/health", timeout=TIMEOUT)
            if ready(resp):
                return
            last = f"{resp.status_code} {resp.text[:500]}"
        except requests.RequestException as e:
            last = repr(e)
        if time.monotonic() > deadline:
            pytest.fail(
                f"[{label}] GET /health not 200 after {START_TIMEOUT}s (last: {last}); log:\n{_log_tail(log_path)}",
                pytrace=False,
            )
        time.sleep(0.25)


def start_stack(tmp: Path, ready=lambda resp: resp.status_code == 200, **overrides: str):
    """A private server on an embedded database in `tmp`, for tests that need their own
    configuration (SES, the AWS trigger, rate limits): migrated, serving (`ready` judges
    /health), returns (process, base URL)."""
    port = free_port()
    env = dict(os.environ)
    env.update({key: "" for key in SHIELDED_KEYS})
    env.update(
        DATABASE_URL=f"sqlite://{tmp / 'bt.db'}?mode=rwc",
        DATA_DIR=str(tmp),
        FLASK_ENV="development",
        EMAIL_NAME="BriefThreat",
        EMAIL_FROM="noreply@example.test",
        PUBLIC_HOST="bt.example.test",
        ROOT_EMAIL="ops@example.test",
    )
    env.update(overrides)
    subprocess.run([str(MIGRATE)], cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    log_path = tmp / "cargo-lambda.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(CARGO_LAMBDA), "lambda", "watch", "-A", "127.0.0.1", "-P", str(port), "--ignore-changes"],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    wait_for_health(proc, base, log_path, ready=ready)
    return proc, base


@pytest.fixture(scope="session")
def smtp_sink():
    """One real SMTP server for the whole session (tests/smtp_sink.py)."""
    from smtp_sink import SmtpSink  # noqa: PLC0415

    sink = SmtpSink(free_port())
    sink.start()
    yield sink
    sink.stop()


@pytest.fixture(scope="session", params=BACKENDS, ids=BACKENDS)
def api(request, tmp_path_factory, smtp_sink):
    backend = request.param
    assert MIGRATE.exists(), f"{MIGRATE} missing: run `cargo build --workspace --bins` (make test does)"
    assert CARGO_LAMBDA.exists(), f"{CARGO_LAMBDA} missing: run `make venv` (make test does)"
    redis_url = os.environ.get("TEST_REDIS_URL")
    admin_url = os.environ.get("TEST_MYSQL_ADMIN_URL")
    if not redis_url or (backend == "mariadb" and not admin_url):
        pytest.fail("TEST_REDIS_URL / TEST_MYSQL_ADMIN_URL not set: run under local/harness.py (make test)")

    tmp = tmp_path_factory.mktemp(f"bt-{backend}")
    data_dir = tmp / "data"
    data_dir.mkdir()
    db_path: Path | None = None
    mysql_url: str | None = None
    mysql_database: str | None = None
    if backend == "sqlite":
        db_path = tmp / "bt.db"
        database_url = f"sqlite://{db_path}?mode=rwc"
    else:
        mysql_database = f"bt_bb_{secrets.token_hex(6)}"
        conn = _mysql_connect(admin_url)
        try:
            with conn.cursor() as cur:
                cur.execute(f"CREATE DATABASE `{mysql_database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        finally:
            conn.close()
        mysql_url = database_url = f"{admin_url.rstrip('/')}/{mysql_database}"

    port = free_port()
    env = dict(os.environ)
    env.update({key: "" for key in SHIELDED_KEYS})
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        FLASK_ENV="development",
        FLASK_SECRET="test-flask-secret",
        JWT_SECRET="test-jwt-secret",
        JWT_ACCESS_EXPIRY="900",
        JWT_REFRESH_EXPIRY="86400",
        PW_RESET_WINDOW="3600",
        PW_SETUP_WINDOW="604800",
        PUBLIC_HOST=f"127.0.0.1:{port}",
        ROOT_EMAIL="root@example.test",
        ROOT_PASSWORD="root-test-password",
        EMAIL_NAME="BriefThreat",
        EMAIL_FROM="noreply@example.test",
        DATA_DIR=str(data_dir),
        # e-mail goes over SMTP to the session's sink; retries come quickly
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_sink.port),
        SMTP_SECURITY="none",
        EMAIL_RETRY_BASE="1",
        RUST_LOG=os.environ.get("TEST_RUST_LOG", "info"),  # TEST_RUST_LOG=debug to dig
    )

    proc = None
    scheduler = None
    log_path = tmp / "cargo-lambda.log"
    try:
        migrate = subprocess.run([str(MIGRATE)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        if migrate.returncode != 0:
            pytest.fail(
                f"[{backend}] target/debug/migrate exited {migrate.returncode}:\n{migrate.stdout}{migrate.stderr}",
                pytrace=False,
            )

        # cargo-lambda reads RUST_LOG too, and at `info` logs its whole configuration with
        # every line: hand RUST_LOG to the functions only.
        server_env = {k: v for k, v in env.items() if k != "RUST_LOG"}
        if os.environ.get("TEST_CARGO_LAMBDA_LOG"):  # e.g. debug, to dig into the emulator
            server_env["RUST_LOG"] = os.environ["TEST_CARGO_LAMBDA_LOG"]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                [
                    str(CARGO_LAMBDA), "lambda", "watch",
                    "-A", "127.0.0.1", "-P", str(port), "--ignore-changes",
                    *os.environ.get("TEST_CARGO_LAMBDA_ARGS", "").split(),
                    "--env-var", f"RUST_LOG={env['RUST_LOG']}",
                ],
                cwd=ROOT,
                env=server_env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        base = f"http://127.0.0.1:{port}"
        wait_for_health(proc, base, log_path, backend)
        # the local schedules, as `make run` has them: `email` every 0.2 s
        with open(tmp / "scheduler.log", "wb") as log:
            scheduler = subprocess.Popen(
                [sys.executable, str(ROOT / "local" / "scheduler.py")],
                env={**env, "SCHEDULER_TARGET": base},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

        api = Api(backend, base, env, db_path, mysql_url, log_path)
        api.smtp = smtp_sink
        yield api
    finally:
        if scheduler is not None:
            scheduler.terminate()
            try:
                scheduler.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                scheduler.kill()
                scheduler.wait()
        if proc is not None:
            stop_server(proc)
        if mysql_database:
            try:
                conn = _mysql_connect(admin_url)
                with conn.cursor() as cur:
                    cur.execute(f"DROP DATABASE IF EXISTS `{mysql_database}`")
                conn.close()
            except Exception as e:  # noqa: BLE001 - teardown must not hide the test result
                print(f"could not drop {mysql_database}: {e}")
        # tmp (database file, log) stays for inspection; pytest keeps the last 3 runs' dirs.
