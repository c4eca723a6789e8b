"""Black-box harness: the whole backend behind the project's Lambda emulator
(`target/debug/lambda-emulator`, local/lambda-emulator), on SQLite and MariaDB.

The session fixture `api` is parametrized over the backends ("sqlite", "mariadb"); every test
that uses it runs once per backend, the backends one after the other. For each backend it
creates a fresh database, runs `target/debug/migrate`, starts the emulator over
`target/debug` on a free port with the test configuration in its environment (the function
processes inherit it), and waits for /health. The emulator's Invoke API listens on a
separate loopback address (`api.internal`), as it does in production: `api.invoke` goes
there. A commit that queues e-mail invokes `email` at once through it (EMAIL_INVOKE_URL, as
in AWS); the e-mail schedule, the backstop for retries, runs every second here.

MariaDB and Redis come from local/harness.py (TEST_MYSQL_ADMIN_URL, TEST_REDIS_URL); `make
test` runs pytest under it. The binaries must already be built (`cargo build --workspace
--bins`) so that no request waits for a compile.

Debugging knobs (environment): TEST_RUST_LOG (the functions' RUST_LOG, default info),
TEST_EMULATOR_ARGS (extra emulator arguments). Each backend's server log is `api.log_path`,
under pytest's basetemp.
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
DEBUG_BINARIES = ROOT / "target" / "debug"
MIGRATE = DEBUG_BINARIES / "migrate"
EMULATOR = DEBUG_BINARIES / "lambda-emulator"
BACKENDS = ["sqlite", "mariadb"]
TIMEOUT = 30  # seconds, every HTTP request
INSTANCES = 2  # of each HTTP function
EMAIL_SCHEDULE_SECONDS = 1  # the backstop that retries failed messages; 60 s in AWS
START_TIMEOUT = 60  # seconds, until /health answers 200
STOP_TIMEOUT = 15

# Keys a developer's .env or shell may hold that the test configuration does not set: set
# to "" so that neither leaks in (the binaries treat a blank key as unset, and .env never
# overrides a variable that is present in the environment, even an empty one). Each
# server's configuration then sets what it needs. `make bench` shields the same keys.
SHIELDED_KEYS = [
    "MYSQL_HOST", "MYSQL_PORT", "MYSQL_USER", "MYSQL_PASSWORD", "MYSQL_DATABASE",
    "SMTP_HOST", "SMTP_PORT", "SMTP_SECURITY", "SMTP_USER", "SMTP_PASSWORD",
    "RATELIMIT_DEFAULT", "CLEANUP_INTERVAL", "PUBLIC_SCHEME", "MIGRATE_ON_START",
    "REDIS_URL", "TRUSTED_PROXIES", "EMAIL_INVOKE_URL", "EMAIL_FUNCTION_NAME", "EMAIL_SCHEDULE_SECONDS",
    "EMAIL_TRANSPORT", "SES_ENDPOINT_URL", "OUTBOX_RETENTION", "EMAIL_MAX_ATTEMPTS", "EMAIL_RETRY_BASE",
]

# The Invoke API's address of each running emulator, by its public base URL.
INTERNAL_APIS: dict[str, str] = {}


def first_link(page: str) -> str:
    """The first http(s) URL in an HTML (or text) document, with `&amp;` unescaped."""
    match = re.search(r"https?://[^\s\"'<>]+", page)
    assert match, f"no link in:\n{page}"
    return html.unescape(match.group(0))


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports: all held open until all are chosen, so the
    kernel cannot hand out one twice."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


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


def _mysql_execute(url: str, statement: str) -> None:
    conn = _mysql_connect(url)
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
    finally:
        conn.close()


def create_mysql_database(admin_url: str, prefix: str, collation: str = "utf8mb4_unicode_ci") -> tuple[str, str]:
    """A new, empty database `<prefix>_<random>` on the admin URL's server: (its name, its URL)."""
    name = f"{prefix}_{secrets.token_hex(6)}"
    _mysql_execute(admin_url, f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE {collation}")
    return name, f"{admin_url.rstrip('/')}/{name}"


def drop_mysql_database(admin_url: str, name: str) -> None:
    """DROP DATABASE IF EXISTS, for a teardown: a failure is printed on stderr, never raised
    (it must not hide the test's or the bench's result)."""
    try:
        _mysql_execute(admin_url, f"DROP DATABASE IF EXISTS `{name}`")
    except Exception as e:  # noqa: BLE001 - teardown must not hide the result
        print(f"could not drop {name}: {e}", file=sys.stderr)


def run_sql(db_path: Path | None, mysql_url: str | None, query: str, params=()) -> list[dict]:
    """One statement on the SQLite file `db_path` or else the MariaDB database `mysql_url`,
    committed; `?` placeholders on both; the rows as dicts."""
    if db_path is not None:
        conn = sqlite3.connect(db_path, timeout=30)
        conn.row_factory = sqlite3.Row
        try:
            cur = conn.execute(query, tuple(params))
            rows = [dict(row) for row in cur.fetchall()] if cur.description else []
            conn.commit()
            return rows
        finally:
            conn.close()
    conn = _mysql_connect(mysql_url)
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


class Api:
    """What a test gets as `api`: the server's address and config, HTTP and SQL helpers."""

    def __init__(self, backend: str, base: str, env: dict, db_path: Path | None, mysql_url: str | None,
                 log_path: Path):
        self.backend = backend
        self.base = base
        self.internal = INTERNAL_APIS[base]  # the Invoke API: loopback, never the public address
        self.env = env
        self.log_path = log_path  # the emulator's and the functions' output (JSON lines)
        self._db_path = db_path
        self._mysql_url = mysql_url

    def __repr__(self) -> str:
        return f"Api({self.backend}, {self.base}, log {self.log_path})"

    # -- HTTP: `path` is appended to `base` verbatim (requests keeps `//api/...` as is).
    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("allow_redirects", False)
        kwargs.setdefault("timeout", TIMEOUT)
        return requests.request(method, self.base + path, **kwargs)

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
        return run_sql(self._db_path, self._mysql_url, query, params)

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
    """SIGTERM lets the emulator stop its function instances; then kill whatever is left."""
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
    """Invokes a (non-HTTP) function through the Invoke API of the emulator serving `base`
    (on its internal address); the function's JSON result."""
    resp = requests.post(
        f"{INTERNAL_APIS[base]}/2015-03-31/functions/{function}/invocations", json=payload or {}, timeout=timeout
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
            pytest.fail(f"[{label}] the emulator exited {proc.returncode}:\n{_log_tail(log_path)}", pytrace=False)
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


def start_stack(tmp: Path, ready=lambda resp: resp.status_code == 200, emulator_args: tuple[str, ...] = (),
                **overrides: str):
    """A private server on an embedded database in `tmp`, for tests that need their own
    configuration (SES, the AWS trigger, rate limits, the emulator's `emulator_args`):
    migrated, serving (`ready` judges /health), returns (process, base URL)."""
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
    log_path = tmp / "emulator.log"
    proc, base = start_emulator(env, port, log_path, *emulator_args)
    wait_for_health(proc, base, log_path, ready=ready)
    return proc, base


def launch_emulator(bin_dir: Path, port: int, env: dict, log_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """The project's emulator over `bin_dir`, public on 127.0.0.1:`port`, its Runtime and
    Invoke APIs on another loopback port; the database must already be migrated. Returns
    (process, the internal API's base URL) once it listens; RuntimeError, with its log,
    when it does not start. The tests and `make bench` start it this way."""
    emulator = bin_dir / "lambda-emulator"
    if not emulator.exists():
        raise RuntimeError(f"{emulator} missing: build the workspace's binaries first")
    internal_file = log_path.with_suffix(".internal")
    internal_file.unlink(missing_ok=True)
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(emulator), "--bin-dir", str(bin_dir), "--listen", f"127.0.0.1:{port}",
             "--internal", "127.0.0.1:0", "--internal-addr-file", str(internal_file), "--no-migrate", *args],
            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not internal_file.exists() or not internal_file.read_text().strip():
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_server(proc)
            raise RuntimeError(f"the emulator did not start:\n{_log_tail(log_path)}")
        time.sleep(0.05)
    return proc, f"http://{internal_file.read_text().strip()}"


def start_emulator(env: dict, port: int, log_path: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`launch_emulator` over the debug binaries, for a test: its internal API recorded in
    INTERNAL_APIS. Returns (process, public base URL)."""
    env = dict(env)
    if not env.get("EMAIL_SCHEDULE_SECONDS", "").strip():
        env["EMAIL_SCHEDULE_SECONDS"] = str(EMAIL_SCHEDULE_SECONDS)
    extra = [*args, *os.environ.get("TEST_EMULATOR_ARGS", "").split()]
    try:
        proc, internal = launch_emulator(DEBUG_BINARIES, port, env, log_path, "--instances", str(INSTANCES), *extra)
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
    base = f"http://127.0.0.1:{port}"
    INTERNAL_APIS[base] = internal
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
        mysql_database, mysql_url = create_mysql_database(admin_url, "bt_bb")
        database_url = mysql_url

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
    log_path = tmp / "emulator.log"
    try:
        migrate = subprocess.run([str(MIGRATE)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        if migrate.returncode != 0:
            pytest.fail(
                f"[{backend}] target/debug/migrate exited {migrate.returncode}:\n{migrate.stdout}{migrate.stderr}",
                pytrace=False,
            )
        proc, base = start_emulator(env, port, log_path)
        wait_for_health(proc, base, log_path, backend)
        api = Api(backend, base, env, db_path, mysql_url, log_path)
        api.smtp = smtp_sink
        yield api
    finally:
        if proc is not None:
            stop_server(proc)
        if mysql_database:
            drop_mysql_database(admin_url, mysql_database)
        # tmp (database file, log) stays for inspection; pytest keeps the last 3 runs' dirs.
