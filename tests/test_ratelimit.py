"""Rate limiting (contract section 8) through the emulator, against the harness's Redis:
per client IP per endpoint path, all methods together, 429 `{"message": "<limit>"}` before
any other check, production only, and served unlimited while Redis is unreachable.

The burst through nginx with forged X-Forwarded-For headers is in tests/test_e2e.py."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import TIMEOUT, free_port, start_stack, stop_server

PRODUCTION = dict(
    FLASK_ENV="production",
    FLASK_SECRET="rate-limit-test-flask-secret",
    JWT_SECRET="rate-limit-test-jwt-secret",
    PUBLIC_HOST="bt.example.test",
    ROOT_EMAIL="ops@example.test",
    ROOT_PASSWORD="root-test-password",
    EMAIL_FROM="noreply@example.test",
)


def redis_url(database: int) -> str:
    """The harness's Redis, one logical database per stack, so counts never leak between
    tests (or runs: each stack flushes its database first)."""
    url = os.environ.get("TEST_REDIS_URL")
    if not url:
        pytest.fail("TEST_REDIS_URL not set: run under local/harness.py (make test)")
    return f"{url.rstrip('/')}/{database}"


def flushdb(url: str) -> None:
    """FLUSHDB over a raw socket (RESP), so the tests need no Redis client package."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    database = parts.path.strip("/") or "0"
    with socket.create_connection((parts.hostname, parts.port or 6379), timeout=5) as conn:
        conn.sendall(f"*2\r\n$6\r\nSELECT\r\n${len(database)}\r\n{database}\r\n*1\r\n$7\r\nFLUSHDB\r\n".encode())
        reply = b""
        while reply.count(b"\r\n") < 2:
            chunk = conn.recv(64)
            if not chunk:
                break
            reply += chunk
    assert reply == b"+OK\r\n+OK\r\n", reply


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    """A production stack limited to 5 requests per minute per client per path."""
    url = redis_url(5)
    flushdb(url)
    tmp = tmp_path_factory.mktemp("ratelimit")
    proc, base = start_stack(tmp, REDIS_URL=url, RATELIMIT_DEFAULT="5/minute;1000/day", **PRODUCTION)
    yield base
    stop_server(proc)


def test_sixth_request_in_a_minute_gets_429_with_the_limit(limited):
    answers = [requests.get(limited + "/api/v1/auth/login", timeout=TIMEOUT) for _ in range(5)]
    assert [r.status_code for r in answers] == [401] * 5
    over = requests.get(limited + "/api/v1/auth/login", timeout=TIMEOUT)
    assert over.status_code == 429
    assert over.headers["content-type"] == "application/json"
    assert over.json() == {"message": "5 per 1 minute"}


def test_the_limit_is_per_path_and_counts_every_method_and_slash_spelling(limited):
    path = "/api/v1/auth/token"
    # three methods and three spellings of one path share one count
    answers = [
        requests.get(limited + path, timeout=TIMEOUT),
        requests.post(limited + "/" + path, timeout=TIMEOUT),
        requests.delete(limited + "//" + path, timeout=TIMEOUT),
        requests.put(limited + path, timeout=TIMEOUT),
        requests.get(limited + path, timeout=TIMEOUT),
    ]
    assert 429 not in [r.status_code for r in answers]
    # 429 comes before every other check: a body-less POST would otherwise be 400
    over = requests.post(limited + path, timeout=TIMEOUT)
    assert (over.status_code, over.json()) == (429, {"message": "5 per 1 minute"})
    # another path of the same client is counted apart
    assert requests.get(limited + "/api/v1/auth/access", timeout=TIMEOUT).status_code != 429


def test_a_forged_forwarded_for_does_not_make_a_new_client(limited):
    path = "/api/v1/form/resolve"
    statuses = [
        requests.get(limited + path, headers={"X-Forwarded-For": f"198.51.100.{i}"}, timeout=TIMEOUT).status_code
        for i in range(8)
    ]
    assert statuses[:5] == [405] * 5
    assert statuses[5:] == [429] * 3


def test_pages_are_limited_but_404s_and_the_logo_are_not(limited):
    statuses = [requests.get(limited + "/reset-password", timeout=TIMEOUT).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]
    assert {requests.get(limited + "/no-such-page", timeout=TIMEOUT).status_code for _ in range(8)} == {404}
    assert {requests.get(limited + "/static/logo.png", timeout=TIMEOUT).status_code for _ in range(8)} == {200}


def test_health_reports_redis_and_is_not_limited(limited):
    answers = [requests.get(limited + "/health", timeout=TIMEOUT) for _ in range(8)]
    assert {r.status_code for r in answers} == {200}
    body = answers[-1].json()
    assert body["redis"]["checker"] == "redis_ok"
    assert body["redis"]["passed"] is True
    assert [r["checker"] for r in body["results"]] == ["db_ok", "tasks_ok"]


def test_burst_of_30_parallel_requests_at_20_per_second(tmp_path):
    url = redis_url(6)
    flushdb(url)
    proc, base = start_stack(tmp_path, REDIS_URL=url, RATELIMIT_DEFAULT="20/second", **PRODUCTION)
    try:
        requests.get(base + "/api/v1/auth/login", timeout=TIMEOUT)  # warm the function
        time.sleep(1.5)  # and let that request's window pass
        with ThreadPoolExecutor(30) as pool:
            statuses = list(pool.map(
                lambda _: requests.get(base + "/api/v1/auth/login", timeout=TIMEOUT).status_code, range(30)
            ))
        assert set(statuses) == {401, 429}, statuses
        # 20 get through in the window the burst opens; more only if it outlasts a second
        assert 20 <= statuses.count(401) < 30, statuses
    finally:
        stop_server(proc)


def test_development_does_not_limit(tmp_path):
    url = redis_url(7)
    flushdb(url)
    proc, base = start_stack(tmp_path, REDIS_URL=url, RATELIMIT_DEFAULT="2/minute")
    try:
        statuses = {requests.get(base + "/api/v1/auth/login", timeout=TIMEOUT).status_code for _ in range(6)}
        assert statuses == {401}
    finally:
        stop_server(proc)


def test_requests_are_served_while_redis_is_unreachable(tmp_path):
    closed = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    proc, base = start_stack(
        tmp_path,
        ready=lambda resp: resp.status_code == 500 and resp.json()["results"][0]["passed"] is True,
        REDIS_URL=closed,
        RATELIMIT_DEFAULT="1/minute",
        **PRODUCTION,
    )
    try:
        started = time.monotonic()
        statuses = [requests.get(base + "/api/v1/auth/login", timeout=TIMEOUT).status_code for _ in range(5)]
        elapsed = time.monotonic() - started
        assert statuses == [401] * 5  # served, unlimited: the limiter fails open
        assert elapsed < 5, f"5 requests took {elapsed:.1f}s while Redis was down"
        health = requests.get(base + "/health", timeout=TIMEOUT)
        assert health.status_code == 500
        body = health.json()
        assert body["status"] == "failure"
        # still exactly the old service's two checks, both passing; Redis beside them
        assert [(r["checker"], r["passed"]) for r in body["results"]] == [("db_ok", True), ("tasks_ok", True)]
        assert body["redis"]["passed"] is False
        assert "unreachable" in body["redis"]["output"]
    finally:
        stop_server(proc)
