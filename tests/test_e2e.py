"""End to end, the self-hosted topology without Docker (`make e2e`; `make test` runs it):

    client --HTTPS--> nginx (local/nginx/briefthreat.conf.template, self-signed certificate)
           --> the project's emulator (target/debug/lambda-emulator, as the compose
               `functions` service runs it) + every function binary
           --> MariaDB and Redis (local/harness.py), SMTP to tests/smtp_sink.py
    The emulator migrates first, invokes `email` after each commit that queues mail, and
    runs the schedules (`cleanup` every CLEANUP_INTERVAL in production).

FLASK_ENV=production with RATELIMIT_DEFAULT=20/second and TRUSTED_PROXIES=127.0.0.1 (nginx).
The app's flows go over real HTTPS with certificate verification against the generated
certificate; the password page is driven in headless Chromium."""

from __future__ import annotations

import email.policy
import http.client
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from email import message_from_bytes
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests

from conftest import (
    EMULATOR,
    ROOT,
    SHIELDED_KEYS,
    TIMEOUT,
    _log_tail,
    _mysql_connect,
    create_mysql_database,
    drop_mysql_database,
    first_link,
    free_ports,
    stop_server,
)
from authhelpers import auth
from formhelpers import form_body
from test_ratelimit import flushdb, redis_url

sys.path.insert(0, str(ROOT / "local"))
from render_nginx import render, self_signed_certificate, standalone_conf  # noqa: E402

DEBUG_BINARIES = ROOT / "target" / "debug"
NGINX_TEMPLATE = ROOT / "local" / "nginx" / "briefthreat.conf.template"
ROOT_PASSWORD = "e2e-root-" + secrets.token_hex(4)
START_TIMEOUT = 90


def require(program: str) -> str:
    path = shutil.which(program) or next(
        (p for p in (f"/usr/sbin/{program}", f"/usr/bin/{program}") if os.path.exists(p)), None
    )
    if not path:
        pytest.fail(f"{program} not found: `make test` installs it (Debian package)")
    return path


class Stack:
    def __init__(self, base: str, http_base: str, cert: Path, sink, tmp: Path, env: dict):
        self.base, self.http_base, self.cert, self.sink, self.tmp, self.env = base, http_base, cert, sink, tmp, env

    def request(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", TIMEOUT)
        kwargs.setdefault("allow_redirects", False)
        return requests.request(method, self.base + path, verify=str(self.cert), **kwargs)

    def login(self, username: str, password: str) -> str:
        # the app's own spelling: a leading double slash
        resp = self.request("POST", "//api/v1/auth/login", json={"username": username, "password": password})
        assert resp.status_code == 200, resp.text
        return resp.json()["access_token"]

    def mail_link(self, address: str, subject: str, count: int = 1) -> str:
        message = self.sink.wait_for(address, count=count, subject=subject, timeout=30)[-1].message
        parsed = message_from_bytes(message.as_bytes(), policy=email.policy.default)
        html = parsed.get_body(("html",)).get_content()
        return first_link(html)

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{_log_tail(self.tmp / name, 4000)}"
            for name in ("functions.log", "nginx/logs/error.log")
        )


@pytest.fixture(scope="module")
def stack(tmp_path_factory, smtp_sink):
    nginx = require("nginx")
    require("openssl")
    admin_url = os.environ.get("TEST_MYSQL_ADMIN_URL")
    if not admin_url or not os.environ.get("TEST_REDIS_URL"):
        pytest.fail("TEST_MYSQL_ADMIN_URL / TEST_REDIS_URL not set: run under local/harness.py (make test)")
    assert (DEBUG_BINARIES / "migrate").exists(), "run `cargo build --workspace --bins` (make test does)"

    tmp = tmp_path_factory.mktemp("e2e")
    certs = tmp / "certs"
    certs.mkdir()
    cert = self_signed_certificate(certs)
    database, database_url = create_mysql_database(admin_url, "bt_e2e")
    limits_db = redis_url(10)
    flushdb(limits_db)

    emulator_port, http_port, https_port = free_ports(3)
    env = dict(os.environ)
    env.update({key: "" for key in SHIELDED_KEYS})
    env.update(
        DATABASE_URL=database_url,
        REDIS_URL=limits_db,
        FLASK_ENV="production",
        FLASK_SECRET=secrets.token_hex(32),
        JWT_SECRET=secrets.token_hex(32),
        PUBLIC_HOST=f"localhost:{https_port}",
        ROOT_EMAIL="root@e2e.test",
        ROOT_PASSWORD=ROOT_PASSWORD,
        EMAIL_NAME="BriefThreat",
        EMAIL_FROM="noreply@e2e.test",
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_sink.port),
        SMTP_SECURITY="none",
        RATELIMIT_DEFAULT="20/second",
        TRUSTED_PROXIES="127.0.0.1",
        CLEANUP_INTERVAL="2",
        DATA_DIR=str(tmp / "data"),
        RUST_LOG=os.environ.get("TEST_RUST_LOG", "info"),
    )

    procs: list[subprocess.Popen] = []
    try:
        # as compose's `functions` service: the emulator migrates, then serves every
        # function, with the schedules (cleanup every 2 s in production here)
        with open(tmp / "functions.log", "wb") as log:
            procs.append(subprocess.Popen(
                [str(EMULATOR), "--bin-dir", str(DEBUG_BINARIES), "--listen", f"127.0.0.1:{emulator_port}",
                 "--instances", "2"],
                cwd=tmp, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            ))
        nginx_dir = tmp / "nginx"
        nginx_dir.mkdir()
        conf = standalone_conf(nginx_dir, render(NGINX_TEMPLATE.read_text(), {
            "NGINX_HOST": "localhost",
            "NGINX_HTTP_PORT": str(http_port),
            "NGINX_HTTPS_PORT": str(https_port),
            "SSL_CERT_DIR": str(certs),
            "API_UPSTREAM": f"127.0.0.1:{emulator_port}",
        }))
        checked = subprocess.run([nginx, "-t", "-p", str(nginx_dir), "-c", str(conf)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        with open(tmp / "nginx.log", "wb") as log:
            procs.append(subprocess.Popen(
                [nginx, "-p", str(nginx_dir), "-c", str(conf), "-g", "daemon off;"],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            ))

        stack = Stack(f"https://localhost:{https_port}", f"http://localhost:{http_port}", cert, smtp_sink, tmp, env)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            for proc in procs:
                if proc.poll() is not None:
                    pytest.fail(f"{proc.args[:2]} exited with {proc.returncode}\n{stack.logs()}", pytrace=False)
            try:
                if stack.request("GET", "/health").status_code == 200:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"no healthy answer through nginx in {START_TIMEOUT}s\n{stack.logs()}", pytrace=False)
            time.sleep(0.25)
        yield stack
    finally:
        for proc in reversed(procs):
            stop_server(proc)
        drop_mysql_database(admin_url, database)


def test_http_redirects_to_https(stack):
    resp = requests.get(stack.http_base + "/api/v1/auth/login?x=1", allow_redirects=False, timeout=TIMEOUT)
    assert resp.status_code in (301, 308)
    assert resp.headers["location"] == stack.base + "/api/v1/auth/login?x=1"


def test_health_through_nginx_reports_every_check(stack):
    resp = stack.request("GET", "/health")
    assert resp.status_code == 200
    body = resp.json()
    # contract section 7: exactly two results; Redis in a top-level key of its own
    assert [r["checker"] for r in body["results"]] == ["db_ok", "tasks_ok"]
    assert body["redis"]["checker"] == "redis_ok" and body["redis"]["passed"] is True


# --- only the contract's paths reach the emulator ------------------------------------------
# The emulator serves, beside the routes, the Lambda Runtime API (`/.rt/<function>/...`,
# `/2018-06-01/...`) and the Invoke API (`/2015-03-31/functions/<name>/invocations`).
# Through nginx, none of them may be reachable under any spelling.

NOT_FOUND_JSON = {"message": "Not found"}


def raw_request(stack, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
                timeout: float = TIMEOUT) -> tuple[int, dict, bytes]:
    """`path` sent exactly as written (requests/urllib3 would resolve `..` themselves);
    returns status, headers (lower-case names) and body."""
    context = ssl.create_default_context(cafile=str(stack.cert))
    conn = http.client.HTTPSConnection("localhost", urlsplit(stack.base).port, context=context, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture(scope="module")
def not_found_page(stack) -> str:
    """The contract's HTML 404 page, as the app renders it for an unknown page."""
    resp = stack.request("GET", "/no-such-page")
    assert resp.status_code == 404 and resp.headers["content-type"].startswith("text/html"), resp.text
    assert "<title>Not Found" in resp.text
    return resp.text


def assert_not_found_page(status: int, headers: dict, body: bytes, page: str) -> None:
    assert status == 404, (status, body[:300])
    assert headers["content-type"].startswith("text/html"), headers
    assert body.decode() == page, body[:300]


def test_runtime_api_long_poll_gets_the_404_page_at_once(stack, not_found_page):
    """Through the old `location / { proxy_pass ...; }`, this GET waited for the next
    login request (username and password included) and could answer it."""
    started = time.monotonic()
    status, headers, body = raw_request(stack, "GET", "/.rt/auth-login/2018-06-01/runtime/invocation/next",
                                        timeout=10)
    assert time.monotonic() - started < 5
    assert_not_found_page(status, headers, body, not_found_page)


@pytest.mark.parametrize("method, path", [
    ("GET", "/2018-06-01/runtime/invocation/next"),
    ("POST", f"/.rt/auth-login/2018-06-01/runtime/invocation/{uuid.uuid4()}/response"),
    ("POST", "/.rt/auth-login/2018-06-01/runtime/invocation/next"),
    ("POST", "/2015-03-31/functions/health/invocations"),
    ("GET", "/lambda-url/health/"),
    ("GET", "/"),
])
def test_emulator_paths_get_the_404_page(stack, not_found_page, method, path):
    body = b'{"statusCode": 200, "body": "forged"}' if method == "POST" else None
    status, headers, page = raw_request(stack, method, path, body=body, headers={"Content-Type": "application/json"},
                                        timeout=10)
    assert_not_found_page(status, headers, page, not_found_page)


@pytest.fixture
def dead_letter(stack):
    """A dead letter in the outbox (what `/health` reports until someone deals with it),
    removed afterwards whatever happened to it."""
    marker = f"e2e-dead-{uuid.uuid4().hex}"
    conn = _mysql_connect(stack.env["DATABASE_URL"])
    try:
        with conn.cursor() as cur:
            cur.execute(
                "INSERT INTO email_outbox (to_address, to_name, subject, text_body, html_body, created_at,"
                " status, attempts, next_attempt_at, last_error)"
                " VALUES ('dead@e2e.test', 'Dead Letter', %s, 'text', '<p>html</p>', %s, 2, 8, %s, '550 no')",
                (marker, int(time.time()), int(time.time()) + 86_400),
            )
            dead_id = cur.lastrowid
        yield dead_id, conn
    finally:
        with conn.cursor() as cur:
            cur.execute("DELETE FROM email_outbox WHERE subject = %s", (marker,))
        conn.close()


def failed_ids(stack) -> list[int]:
    resp = stack.request("GET", "/health")
    tasks = next(r for r in resp.json()["results"] if r["checker"] == "tasks_ok")
    return tasks["output"]["failed"]


def test_invoke_api_cannot_dismiss_dead_letters(stack, not_found_page, dead_letter):
    dead_id, conn = dead_letter
    assert dead_id in failed_ids(stack)
    status, headers, body = raw_request(stack, "POST", "/2015-03-31/functions/email/invocations",
                                        body=b'{"dismiss_dead": []}', headers={"Content-Type": "application/json"})
    assert_not_found_page(status, headers, body, not_found_page)
    with conn.cursor() as cur:
        cur.execute("SELECT status FROM email_outbox WHERE id = %s", (dead_id,))
        assert cur.fetchone()["status"] == 2  # still a dead letter, not dismissed (3)
    assert dead_id in failed_ids(stack)


# Spellings an attacker might try to get past nginx's path matching to the Invoke API. nginx
# matches and proxies the normalised path (merged slashes, `%XX` decoded, dot segments
# resolved), so each one is a path under /api/v1 (the JSON 404, or the form function's 401
# for /api/v1/form) or another one (the HTML page); the raw spelling never reaches the
# emulator, whose router matches it as it comes.
TRAVERSALS = [
    ("/api/v1/../2015-03-31/functions/email/invocations", "page"),
    ("/api/v1/%2e%2e/2015-03-31/functions/email/invocations", "page"),
    ("/api/v1/.%2E/2015-03-31/functions/email/invocations", "page"),
    ("/api/v1/%2E%2E%2F2015-03-31/functions/email/invocations", "page"),
    ("/api/v1/x/..%2F..%2F../2015-03-31/functions/email/invocations", "page"),
    ("/health/..%2F2015-03-31/functions/email/invocations", "page"),
    ("/static/..%2f2015-03-31/functions/email/invocations", "page"),
    ("//2015-03-31/functions/email/invocations", "page"),
    ("///2015-03-31//functions/email/invocations", "page"),
    ("/api/v1/x%3F/../../../2015-03-31/functions/email/invocations", "page"),
    ("/api/v1/%2F2015-03-31/functions/email/invocations", "not-found"),
    ("/api/v1/%252e%252e/2015-03-31/functions/email/invocations", "not-found"),
    ("/api/v1/%3F/../2015-03-31/functions/email/invocations", "not-found"),
    ("/2015-03-31/functions/email%2F..%2F..%2F..%2Fapi%2Fv1%2Fform/invocations", "not-found"),
    ("/2015-03-31/functions/email/invocations/../../../../api/v1/form", "unauthorized"),
]


@pytest.mark.parametrize("path, expected", TRAVERSALS)
def test_traversal_spellings_never_reach_the_invoke_api(stack, not_found_page, path, expected):
    status, headers, body = raw_request(stack, "POST", path, body=b'{"dismiss_dead": [-1]}',
                                        headers={"Content-Type": "application/json"}, timeout=10)
    assert b"dismissed_dead" not in body, body  # the e-mail function's report
    if expected == "page":
        assert_not_found_page(status, headers, body, not_found_page)
    elif expected == "not-found":
        assert status == 404 and json.loads(body) == NOT_FOUND_JSON, (status, body[:300])
    else:  # POST /api/v1/form without a token
        assert status == 401 and "message" in json.loads(body), (status, body[:300])


def test_contract_paths_still_route_through_nginx(stack):
    # the app's doubled slash, and longer runs
    for path in ("//api/v1/auth/login", "///api/v1/auth/login", "////api/v1/auth/login"):
        resp = stack.request("POST", path, json={"username": "root", "password": ROOT_PASSWORD})
        assert resp.status_code == 200 and "access_token" in resp.json(), (path, resp.text)
    for path in ("/api/v1/unknown", "//api/v1/form/nope", "/api/v1", "/api/v1/"):
        resp = stack.request("GET", path)
        assert resp.status_code == 404 and resp.json() == NOT_FOUND_JSON, (path, resp.text)
    for method, path in (("DELETE", "//api/v1/auth/register"), ("POST", "/health")):
        resp = stack.request(method, path)
        assert resp.status_code == 405, (path, resp.text)
        assert resp.json() == {"message": "The method is not allowed for the requested URL."}
    # query strings reach the pages
    resp = stack.request("GET", "/reset-password?token=not-a-token")
    assert resp.status_code == 422 and "Invalid data" in resp.text
    resp = stack.request("GET", "/reset-password")
    assert resp.status_code == 422 and "No token provided" in resp.text
    resp = stack.request("GET", "//resolve?token=not-a-token")
    assert resp.status_code == 422 and "Invalid data" in resp.text
    for name, content_type in (("logo.png", "image/png"), ("logo.svg", "image/svg+xml")):
        resp = stack.request("GET", f"/static/{name}")
        assert resp.status_code == 200 and resp.headers["content-type"] == content_type, name
    assert stack.request("GET", "/static/nope.png").status_code == 404


@pytest.mark.parametrize("method, path", [
    ("GET", "/health"),
    ("POST", "/api/v1/auth/login"),
    ("GET", "/api/v1/auth/login"),
    ("OPTIONS", "/api/v1/auth/login"),
    ("GET", "/api/v1/unknown"),
    ("GET", "/static/logo.svg"),
    ("GET", "/.rt/auth-login/2018-06-01/runtime/invocation/next"),
])
def test_no_cors_headers_for_any_origin(stack, method, path):
    """The emulator echoes any Origin back with Allow-Credentials: true; nginx drops it all."""
    headers = {"Origin": "https://evil.example"}
    if method == "OPTIONS":
        headers.update({"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"})
    kwargs = {"json": {"username": "root", "password": ROOT_PASSWORD}} if method == "POST" else {}
    resp = stack.request(method, path, headers=headers, timeout=10, **kwargs)
    if method == "POST":
        assert resp.status_code == 200, resp.text
    leaked = {k: v for k, v in resp.headers.items() if k.lower().startswith("access-control-")}
    assert not leaked, (resp.status_code, leaked)


def new_user(stack, root_token: str, admin: bool = False) -> dict:
    username = "e2e" + uuid.uuid4().hex[:8]
    user = {
        "username": username,
        "email": f"{username}@e2e.test",
        "is_admin": admin,
        "first_name": "Eve",
        "last_name": "Tester",
    }
    resp = stack.request("POST", "/api/v1/auth/register", json=user, headers=auth(root_token))
    assert resp.status_code == 204, resp.text
    return user


def test_password_page_in_a_real_browser(stack):
    """Registration e-mail → the link in headless Chromium → type a password → Save →
    "Password saved" → log in with it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    user = new_user(stack, stack.login("root", ROOT_PASSWORD))
    link = stack.mail_link(user["email"], "BriefThreat registration")
    assert link.startswith(stack.base + "/reset-password?token="), link  # https, from X-Forwarded-Proto

    options = webdriver.ChromeOptions()
    options.binary_location = require("chromium")
    for flag in (
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--ignore-certificate-errors",  # the test's self-signed certificate
        f"--user-data-dir={stack.tmp / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(require("chromedriver")), options=options)
    try:
        driver.set_page_load_timeout(30)
        driver.get(link)
        assert "Set your password" in driver.page_source
        password = "browser-" + uuid.uuid4().hex
        driver.find_element(By.NAME, "password").send_keys(password)
        save = driver.find_element(By.XPATH, "//button[normalize-space()='Save'] | //input[@type='submit' and @value='Save']")
        save.click()
        WebDriverWait(driver, 20).until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "body"), "Password saved"))
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "Your new password has been saved successfully. You may now log in." in body
        driver.save_screenshot(str(stack.tmp / "password-saved.png"))
    finally:
        driver.quit()
    assert stack.login(user["username"], password)


def test_client_flows_over_https(stack):
    """Log in, submit, list, resolve by the e-mailed link, reset a password by the page."""
    root = stack.login("root", ROOT_PASSWORD)
    user = new_user(stack, root)
    first = stack.mail_link(user["email"], "BriefThreat registration")
    token = urlsplit(first).query.removeprefix("token=")
    resp = stack.request("POST", "/reset-password", data={"token": token, "password": "first-pw-1"})
    assert resp.status_code == 200 and "Password saved" in resp.text
    access = stack.login(user["username"], "first-pw-1")

    form = form_body(payment_method="cheque", amount=42.5)
    resp = stack.request("POST", "/api/v1/form", json=form, headers=auth(access))
    assert resp.status_code in (200, 201), resp.text
    form_id = resp.json()["id"]
    listed = stack.request("GET", "//api/v1/form", headers={**auth(access), "Accept-Encoding": "gzip"})
    assert listed.status_code == 200
    assert [f["id"] for f in listed.json()] == [form_id]

    resolve_link = stack.mail_link("root@e2e.test", f"Form no. {form_id}")
    assert resolve_link.startswith(stack.base + "/resolve?token="), resolve_link
    page = requests.get(resolve_link, verify=str(stack.cert), timeout=TIMEOUT)
    assert page.status_code == 200 and f"Form no. {form_id} was resolved successfully." in page.text
    stack.sink.wait_for(user["email"], subject=f"Form no. {form_id}", timeout=30)
    listed = stack.request("GET", "/api/v1/form", headers=auth(access)).json()
    assert listed[0]["resolved_at"] is not None

    resp = stack.request("PATCH", "//api/v1/auth/login", json={"username": user["username"]})
    assert resp.status_code == 204, resp.text
    reset = stack.mail_link(user["email"], "BriefThreat password reset")
    page = requests.get(reset, verify=str(stack.cert), timeout=TIMEOUT)
    assert page.status_code == 200 and "Reset your password" in page.text
    token = urlsplit(reset).query.removeprefix("token=")
    resp = stack.request("POST", "/reset-password", data={"token": token, "password": "second-pw-2"})
    assert resp.status_code == 200 and "Password saved" in resp.text
    assert stack.login(user["username"], "second-pw-2")
    resp = stack.request("POST", "/api/v1/auth/login", json={"username": user["username"], "password": "first-pw-1"})
    assert resp.status_code == 401


def burst(stack, token: str, forged: bool = False, source: str = "127.0.0.1") -> list[int]:
    """30 parallel GET /api/v1/auth/login from `source`, each with its own forged
    X-Forwarded-For when `forged`."""
    context = ssl.create_default_context(cafile=str(stack.cert))
    port = urlsplit(stack.base).port

    def one(i: int) -> int:
        headers = auth(token)
        if forged:
            headers["X-Forwarded-For"] = f"203.0.113.{i + 1}"
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=TIMEOUT,
                                           source_address=(source, 0))
        try:
            conn.request("GET", "/api/v1/auth/login", headers=headers)
            resp = conn.getresponse()
            body = resp.read()
            if resp.status == 429:
                assert json.loads(body) == {"message": "20 per 1 second"}, body
            return resp.status
        finally:
            conn.close()

    with ThreadPoolExecutor(30) as pool:
        return list(pool.map(one, range(30)))


def test_rate_limit_burst_through_nginx(stack):
    token = stack.login("root", ROOT_PASSWORD)
    assert stack.request("GET", "/api/v1/auth/login", headers=auth(token)).status_code == 200
    time.sleep(1.5)  # a fresh one-second window for each burst

    plain = burst(stack, token)
    assert set(plain) == {200, 429}, plain
    assert 20 <= plain.count(200) < 30, plain
    time.sleep(1.5)

    forged = burst(stack, token, forged=True)
    assert set(forged) == {200, 429}, forged  # a forged header makes no new client
    assert 20 <= forged.count(200) < 30, forged

    # Another client address (what nginx saw, passed on as X-Forwarded-For from the trusted
    # proxy) has a count of its own: 127.0.0.1 is over its limit right now, 127.0.0.2 is not.
    third = burst(stack, token, source="127.0.0.1")
    assert third.count(429) >= 10 and set(third) <= {200, 429}, third
    other = burst(stack, token, source="127.0.0.2")
    assert other.count(200) >= 20, other


def test_cleanup_runs_on_schedule_in_production(stack):
    deadline = time.monotonic() + 20
    log = stack.tmp / "functions.log"
    while "cleanup done" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, f"no cleanup run in 20 s\n{stack.logs()}"
        time.sleep(0.5)
