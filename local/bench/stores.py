"""The harness's MariaDB and Redis as the bench talks to them: SQL on the bench database
(plain tuples, autocommit), the outbox's state, and Redis's count of rate-limit checks."""

from __future__ import annotations

import re
import socket
import time
from urllib.parse import urlsplit

import pymysql

from conftest import _mysql_params  # the tests' reading of a mysql:// URL (tests/ on sys.path: __init__.py)


def mysql(url: str):
    return pymysql.connect(**_mysql_params(url))


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


def outbox_status_counts(db_url: str) -> dict[str, int]:
    return {str(k): v for k, v in sql(db_url, "SELECT status, COUNT(*) FROM email_outbox GROUP BY status")}


def outbox_drained(db_url: str, seconds: float, sweep=None, stalled: float = 5.0) -> tuple[float, int, int]:
    """Waits (at most `seconds`) until no message waits in the outbox (status 0): (the
    seconds waited, the messages still waiting, the sweeps). An invocation of `email`
    sends for at most 20 s and what it leaves waits for the next one: the next commit's or
    the schedule's sweep (every minute in AWS). The bench's schedule is an hour away, so
    when the count has not moved for `stalled` seconds, `sweep()` stands in for it."""
    started = time.monotonic()
    last, moved, sweeps = None, started, 0
    while True:
        waiting = sql(db_url, "SELECT COUNT(*) FROM email_outbox WHERE status = 0")[0][0]
        now = time.monotonic()
        if waiting == 0 or now - started > seconds:
            return now - started, waiting, sweeps
        if waiting != last:
            last, moved = waiting, now
        elif sweep is not None and now - moved > stalled:
            sweep()
            sweeps += 1
            moved = time.monotonic()
        time.sleep(0.2)


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
