"""The project's emulator in front of the real functions, as a client sees it (its own
crash, timeout, size and integrity tests run in Rust: `cargo test -p lambda-emulator`).

- a body that is not UTF-8 reaches the function (base64 in the event) and gets the
  function's JSON 400, not an emulator error;
- any run of leading slashes routes like one;
- no CORS headers, whatever the Origin;
- the Runtime and Invoke APIs do not exist on the public address: their paths are ordinary
  unknown paths (the HTML 404 page);
- a forged `Host` is the gateway's 400 and a forged `X-Forwarded-Proto` is not passed on:
  either made lambda_http panic (a 502) before;
- a commit that queues e-mail invokes `email` through the Invoke API: delivered with no
  poller and no schedule running;
- with `--concurrency 1` (standard Lambda: no AWS_LAMBDA_MAX_CONCURRENCY) the functions
  serve one invocation at a time per process, and the API works the same.
"""

from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlparse

import pytest
import requests

from authhelpers import LOGIN, REGISTER, auth, expect_204, expect_message, register_body
from conftest import TIMEOUT, _descendants, start_stack, stop_server

JSON = {"Content-Type": "application/json"}


def test_a_body_that_is_not_utf8_gets_the_function_s_400(api):
    resp = api.post(LOGIN, data=b'{"username": "\xff\xfe", "password": "x"}', headers=JSON)
    assert resp.status_code == 400, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json()["message"].startswith("Failed to decode JSON object")


def test_a_binary_body_on_a_page_gets_the_page_s_answer(api):
    resp = api.post("/reset-password", data=b"\xff\x00\xfe", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 422 and resp.headers["Content-Type"].startswith("text/html"), resp.text[:300]


@pytest.mark.parametrize("slashes", [4, 7])
def test_many_leading_slashes_route_like_one(api, slashes):
    resp = api.get("/" * slashes + "api/v1/auth/login")
    expect_message(resp, 401, "Missing Authorization Header")
    assert api.get("/" * slashes + "health").status_code == 200


@pytest.mark.parametrize("method, path", [("GET", "/health"), ("POST", LOGIN), ("OPTIONS", LOGIN), ("GET", "/nope")])
def test_no_cors_headers(api, method, path):
    resp = api.request(method, path, headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
    assert not [h for h in resp.headers if h.lower().startswith("access-control-")], dict(resp.headers)


def raw_get(api, path: str, header: bytes, value: bytes) -> tuple[int, bytes]:
    """GET with one header sent byte for byte (`requests` would encode or refuse it); a
    `Host` given here is the only one."""
    host = b"" if header.lower() == b"host" else b"Host: " + urlparse(api.base).netloc.encode() + b"\r\n"
    request = b"GET " + path.encode() + b" HTTP/1.1\r\n" + host + header + b": " + value + b"\r\n"
    return raw_request(api, request + b"Connection: close\r\n\r\n")


def raw_request(api, request: bytes) -> tuple[int, bytes]:
    """One request written to the socket as given; the answer's status and body."""
    base = urlparse(api.base)
    with socket.create_connection((base.hostname, base.port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize(
    "host", [b"a b", b"a%00b", b"h:99999", b"[::1", b"1.2.3.999", b"\xff\xfe", "ex\u00e4mple.com".encode()]
)
def test_a_forged_host_is_the_gateway_s_400(api, host):
    status, body = raw_get(api, LOGIN, b"Host", host)
    assert (status, body) == (400, b'{"message":"Bad Request"}'), (host, status, body)


@pytest.mark.parametrize("authority", [b"h:99999", b"1.2.3.999", b"user@host"])
def test_a_forged_authority_without_a_host_is_the_gateway_s_400(api, authority):
    # No Host header: the event's host is the request target's authority.
    request = b"GET http://" + authority + LOGIN.encode() + b" HTTP/1.1\r\nConnection: close\r\n\r\n"
    status, body = raw_request(api, request)
    assert (status, body) == (400, b'{"message":"Bad Request"}'), (authority, status, body)


def test_no_host_at_all_reaches_the_function(api):
    status, body = raw_request(api, b"GET " + LOGIN.encode() + b" HTTP/1.0\r\n\r\n")
    assert status == 401 and b"Missing Authorization Header" in body, (status, body)


@pytest.mark.parametrize("host", [b"api.example.com", b"localhost:9000", b"[::1]:9000", b"10.0.0.7"])
def test_a_real_host_reaches_the_function(api, host):
    status, body = raw_get(api, LOGIN, b"Host", host)
    assert status == 401 and b"Missing Authorization Header" in body, (host, status, body)


@pytest.mark.parametrize("proto", [b"a b", b"https, http", b"ftp://x", b"http"])
def test_any_x_forwarded_proto_reaches_the_function(api, proto):
    status, body = raw_get(api, LOGIN, b"X-Forwarded-Proto", proto)
    assert status == 401 and b"Missing Authorization Header" in body, (proto, status, body)


def test_options_reaches_the_function(api):
    # no emulator-made preflight answer: the function says the method is not allowed
    expect_message(api.request("OPTIONS", LOGIN), 405, "The method is not allowed for the requested URL.")


@pytest.mark.parametrize(
    "method, path",
    [
        ("POST", "/2015-03-31/functions/email/invocations"),
        ("GET", "/2018-06-01/runtime/invocation/next"),
        ("GET", "/.rt/auth-login/2018-06-01/runtime/invocation/next"),
        ("GET", "/health/2018-06-01/runtime/invocation/next"),
    ],
)
def test_lambda_apis_are_unknown_paths_on_the_public_address(api, method, path):
    started = time.monotonic()
    resp = api.request(method, path, json={"dismiss_dead": []}, timeout=10)
    assert time.monotonic() - started < 5, "answered like a long poll"
    assert resp.status_code == 404, resp.text[:300]
    assert resp.headers["Content-Type"].startswith("text/html")
    assert "Not Found" in resp.text


def test_the_invoke_api_answers_on_the_internal_address(api):
    resp = requests.post(f"{api.internal}/2015-03-31/functions/cleanup/invocations", json={}, timeout=TIMEOUT)
    assert resp.status_code == 200 and set(resp.json()) == {"revoked_tokens", "delivered_emails"}, resp.text
    resp = requests.post(f"{api.internal}/2015-03-31/functions/nope/invocations", json={}, timeout=TIMEOUT)
    assert resp.status_code == 404, resp.text


def _environment(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item]
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


def test_one_invocation_at_a_time_per_process_as_in_standard_lambda(tmp_path):
    proc, base = start_stack(tmp_path, emulator_args=("--concurrency", "1"), ROOT_PASSWORD="root-pw")
    try:
        logins = [_environment(p) for p in _descendants(proc.pid)]
        logins = [e for e in logins if e.get("AWS_LAMBDA_FUNCTION_NAME") == "auth-login"]
        assert len(logins) == 2 and not any("AWS_LAMBDA_MAX_CONCURRENCY" in e for e in logins)
        token = requests.post(base + LOGIN, json={"username": "root", "password": "root-pw"},
                              timeout=TIMEOUT).json()["access_token"]
        body = register_body()
        expect_204(requests.post(base + REGISTER, json=body, headers=auth(token), timeout=TIMEOUT))

        def whoami(_):
            return requests.get(base + LOGIN, headers=auth(token), timeout=TIMEOUT)

        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(whoami, range(32)))
        assert {a.status_code for a in answers} == {200}
        assert {a.json()["username"] for a in answers} == {"root"}
    finally:
        stop_server(proc)


def test_a_commit_invokes_email_with_no_poller_and_no_schedule(tmp_path, smtp_sink):
    proc, base = start_stack(
        tmp_path,
        ROOT_PASSWORD="root-pw",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_sink.port),
        SMTP_SECURITY="none",
        EMAIL_SCHEDULE_SECONDS="3600",
    )
    try:
        token = requests.post(base + LOGIN, json={"username": "root", "password": "root-pw"},
                              timeout=TIMEOUT).json()["access_token"]
        body = register_body()
        expect_204(requests.post(base + REGISTER, json=body, headers=auth(token), timeout=TIMEOUT))
        answered = time.monotonic()
        (received,) = smtp_sink.wait_for(body["email"], timeout=10)
        print(f"e-mail at the sink {1000 * (received.at - answered):.0f} ms after the 204")
    finally:
        stop_server(proc)
