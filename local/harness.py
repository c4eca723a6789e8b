#!/usr/bin/env python3
"""Run a command next to throwaway MariaDB and Redis servers.

    python local/harness.py -- <command> [args...]

Starts a private MariaDB and a private Redis on free loopback ports, with their data in a
fresh temporary directory, exports

    TEST_MYSQL_ADMIN_URL  mysql://root:PW@127.0.0.1:P          (no database selected)
    TEST_MYSQL_URL        mysql://root:PW@127.0.0.1:P/bt_rust_test
    TEST_REDIS_URL        redis://127.0.0.1:P/

to the command, and stops both servers and deletes the directory when the command ends,
fails, or the harness is interrupted (Ctrl-C, SIGTERM, SIGHUP). Exits with the command's
exit code. Nothing is shared with another run: two harnesses may run at the same time.

Standard library only (PyMySQL, when importable, is used for an extra log-in check).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MYSQL_DATABASE = "bt_rust_test"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
ATTEMPTS = 3  # a free port can be taken between choosing it and binding it
SEARCH_PATH = os.pathsep.join(
    [os.environ.get("PATH", ""), "/usr/sbin", "/sbin", "/usr/local/sbin", "/usr/libexec"]
)


class HarnessError(Exception):
    pass


class Stop(Exception):
    """Raised from the SIGTERM/SIGHUP handler so that cleanup runs."""

    def __init__(self, signum: int):
        super().__init__(f"signal {signum}")
        self.signum = signum


def log(message: str) -> None:
    print(f"[harness] {message}", file=sys.stderr, flush=True)


def find_binary(name: str) -> str:
    path = shutil.which(name, path=SEARCH_PATH)
    if not path:
        raise HarnessError(f"{name} not found (install mariadb-server and redis-server; `make test` does)")
    return path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


# Every server started, so that the cleanup stops it whatever fails afterwards.
SERVICES: list["Service"] = []


class Service:
    """One server process in its own session (Ctrl-C reaches it only through us)."""

    def __init__(self, name: str, argv: list[str], logfile: Path):
        self.name = name
        self.argv = argv
        self.logfile = logfile
        self._start()
        SERVICES.append(self)

    def _start(self) -> None:
        self._log = open(self.logfile, "ab")
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def restart(self, ready, what: str) -> None:
        """Starts the stopped server again, same arguments (port, data), and waits for `ready`:
        for tests that take a server away and bring it back."""
        assert not self.alive(), f"{self.name} is still running"
        self._start()
        wait_until(self, ready, what)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.alive():
            try:
                self.proc.terminate()
                self.proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop in {STOP_TIMEOUT:.0f}s, killing it")
                self.proc.kill()
                self.proc.wait()
            except ProcessLookupError:
                pass
        self._log.close()


def wait_until(service: Service, ready, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if not service.alive():
            raise HarnessError(f"{what} exited with code {service.proc.returncode}:\n{tail(service.logfile)}")
        if ready():
            return
        time.sleep(0.1)
    raise HarnessError(f"{what} not ready after {START_TIMEOUT:.0f}s:\n{tail(service.logfile)}")


def start_on_free_port(name: str, what: str, argv_for, logfile: Path, ready_for) -> tuple[Service, int]:
    """Starts server `name` (`argv_for(port)`) on a free loopback port and waits until
    `ready_for(port)`; on another port when it does not come up there (the port may have
    been taken meanwhile), ATTEMPTS times in all. `what` names it in messages."""
    for attempt in range(1, ATTEMPTS + 1):
        port = free_port()
        service = Service(name, argv_for(port), logfile)
        try:
            wait_until(service, lambda: ready_for(port), what)
        except HarnessError:
            service.stop()
            if attempt == ATTEMPTS:
                raise
            log(f"{what} did not start on port {port}, retrying on another port")
            continue
        return service, port
    raise AssertionError("unreachable")


# --- MariaDB ----------------------------------------------------------------------------------

def mariadb_greets(port: int) -> bool:
    """True once the server accepts TCP connections and sends its handshake."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(2)
            packet = s.recv(128)
            # 4-byte header, then protocol version 10 (an 0xff error packet means not ready)
            return len(packet) > 4 and packet[4] == 10
    except OSError:
        return False


def start_mariadb(base: Path, password: str) -> tuple[Service, int]:
    datadir = base / "mariadb"
    datadir.mkdir()
    install_log = base / "mariadb-install-db.log"
    with open(install_log, "wb") as out:
        result = subprocess.run(
            [
                find_binary("mariadb-install-db"),
                "--no-defaults",
                f"--datadir={datadir}",
                "--user=root",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    if result.returncode != 0:
        raise HarnessError(f"mariadb-install-db failed ({result.returncode}):\n{tail(install_log)}")

    # Runs before the server accepts connections: a password for every root account
    # (install-db creates root@127.0.0.1 without one; with --skip-name-resolve TCP logins
    # from 127.0.0.1 never match 'localhost') and the Rust tests' database.
    init_file = base / "mariadb-init.sql"
    init_file.write_text(
        f"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
        "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n"
        f"ALTER USER 'root'@'127.0.0.1' IDENTIFIED BY '{password}';\n"
        f"ALTER USER 'root'@'localhost' IDENTIFIED BY '{password}';\n"
        "DROP USER IF EXISTS 'root'@'::1';\n"
        f"CREATE DATABASE IF NOT EXISTS `{MYSQL_DATABASE}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;\n"
        "FLUSH PRIVILEGES;\n"
    )
    mariadbd = find_binary("mariadbd")
    service, port = start_on_free_port(
        "mariadb", "mariadbd",
        lambda port: [
            mariadbd,
            "--no-defaults",
            f"--datadir={datadir}",
            f"--socket={base / 'mariadb.sock'}",
            f"--pid-file={base / 'mariadb.pid'}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            "--user=root",
            "--skip-name-resolve",
            f"--init-file={init_file}",
            f"--tmpdir={base}",
            "--skip-log-bin",
            "--skip-performance-schema",
            "--innodb-buffer-pool-size=64M",
            "--innodb-log-file-size=16M",
            "--innodb-flush-log-at-trx-commit=0",
            "--innodb-doublewrite=0",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_unicode_ci",
            "--max-connections=500",
        ],
        base / "mariadb.log",
        mariadb_greets,
    )
    check_mariadb_login(port, password)
    return service, port


def check_mariadb_login(port: int, password: str) -> None:
    try:
        import pymysql  # noqa: PLC0415 - optional
    except ImportError:
        return
    conn = pymysql.connect(host="127.0.0.1", port=port, user="root", password=password,
                           database=MYSQL_DATABASE, connect_timeout=10)
    conn.close()


# --- Redis ------------------------------------------------------------------------------------

def redis_pongs(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.settimeout(2)
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(base: Path) -> tuple[Service, int]:
    datadir = base / "redis"
    datadir.mkdir()
    redis_server = find_binary("redis-server")
    return start_on_free_port(
        "redis", "redis-server",
        lambda port: [
            redis_server,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(datadir),
            "--daemonize", "no",
            "--protected-mode", "yes",
        ],
        base / "redis.log",
        redis_pongs,
    )


# --- main -------------------------------------------------------------------------------------

def run_child(argv: list[str], env: dict[str, str]) -> int:
    """Runs the command in our process group (so Ctrl-C reaches it directly) and waits."""
    child = subprocess.Popen(argv, env=env)
    try:
        return child.wait()
    except BaseException:
        # Ctrl-C already reached the child (same process group); SIGTERM/SIGHUP did not.
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
        raise


def main(argv: list[str]) -> int:
    if "--" in argv:
        argv = argv[argv.index("--") + 1:]
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2

    def on_signal(signum, _frame):
        raise Stop(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGHUP, on_signal)

    base = Path(tempfile.mkdtemp(prefix="bt-harness-"))
    try:
        password = secrets.token_hex(12)
        _, mysql_port = start_mariadb(base, password)
        log(f"MariaDB ready on 127.0.0.1:{mysql_port} (database {MYSQL_DATABASE}, data in {base / 'mariadb'})")
        _, redis_port = start_redis(base)
        log(f"Redis ready on 127.0.0.1:{redis_port}")

        admin_url = f"mysql://root:{password}@127.0.0.1:{mysql_port}"
        env = dict(os.environ)
        env.update(
            TEST_MYSQL_ADMIN_URL=admin_url,
            TEST_MYSQL_URL=f"{admin_url}/{MYSQL_DATABASE}",
            TEST_REDIS_URL=f"redis://127.0.0.1:{redis_port}/",
        )
        log("running: " + " ".join(argv))
        code = run_child(argv, env)
        log(f"command exited with code {code}")
        return code if code >= 0 else 128 - code
    except HarnessError as e:
        log(f"error: {e}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    except Stop as e:
        log(f"stopped by signal {e.signum}")
        return 128 + e.signum
    finally:
        # Ignore further Ctrl-C/SIGTERM while cleaning up, or servers could be left behind.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        for service in reversed(SERVICES):
            service.stop()
        shutil.rmtree(base, ignore_errors=True)
        log("servers stopped, temporary files removed")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
