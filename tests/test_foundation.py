"""Foundation: /health, routing rules shared by every endpoint, static assets, the root user,
configuration errors (contract sections 1, 7, 8), and the harness itself."""

import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
import requests

from conftest import MIGRATE, first_link

METHOD_NOT_ALLOWED = {"message": "The method is not allowed for the requested URL."}


def is_json(resp):
    return resp.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"


# --------------------------------------------------------------------------- /health


def check_health(resp):
    assert resp.status_code == 200, resp.text
    assert is_json(resp)
    body = resp.json()
    # the test server has REDIS_URL set: Redis is reported beside `results`, never in it
    assert set(body) == {"hostname", "status", "timestamp", "results", "redis"}
    assert isinstance(body["hostname"], str) and body["hostname"]
    assert body["status"] == "success"
    assert isinstance(body["timestamp"], (int, float))
    results = body["results"]
    # the old service's monitors compare `results` as a list of exactly these two checks
    assert [r["checker"] for r in results] == ["db_ok", "tasks_ok"]
    db, tasks = results
    assert db["checker"] == "db_ok"
    assert db["passed"] is True
    assert db["output"] == "database ok"
    assert tasks["checker"] == "tasks_ok"
    assert tasks["passed"] is True
    assert set(tasks["output"]) == {"succeeded", "failed"}
    assert isinstance(tasks["output"]["succeeded"], int) and not isinstance(tasks["output"]["succeeded"], bool)
    assert tasks["output"]["failed"] == []
    assert body["redis"]["checker"] == "redis_ok" and body["redis"]["passed"] is True
    assert body["redis"]["output"] == "redis ok"
    for result in [*results, body["redis"]]:
        assert set(result) == {"checker", "passed", "output", "timestamp", "expires"}, result
        assert isinstance(result["timestamp"], (int, float)), result
        assert isinstance(result["expires"], (int, float)), result
        assert result["expires"] >= result["timestamp"], result


def test_health(api):
    check_health(api.get("/health"))


def test_health_with_leading_double_slash(api):
    check_health(api.get("//health"))


def test_health_wrong_method(api):
    resp = api.post("/health")
    assert resp.status_code == 405, resp.text
    assert is_json(resp)
    assert resp.json() == METHOD_NOT_ALLOWED


# --------------------------------------------------------------------------- 404s, static


def test_unknown_api_path_is_json_404(api):
    resp = api.get("/api/v1/nope")
    assert resp.status_code == 404, resp.text
    assert is_json(resp)
    assert resp.json() == {"message": "Not found"}


def test_unknown_page_is_html_404(api):
    resp = api.get("/nope")
    assert resp.status_code == 404, resp.text
    assert resp.headers.get("Content-Type", "").startswith("text/html")
    assert "Not Found" in resp.text


def test_static_svg_logo(api):
    resp = api.get("/static/logo.svg")
    assert resp.status_code == 200
    assert resp.headers.get("Content-Type", "").startswith("image/svg+xml")
    assert b"<svg" in resp.content


def test_static_png_logo(api):
    resp = api.get("/static/logo.png")
    assert resp.status_code == 200
    assert resp.headers.get("Content-Type", "").startswith("image/png")
    assert resp.content.startswith(b"\x89PNG")


# --------------------------------------------------------------------------- root user


def test_root_user_exists(api):
    rows = api.sql(
        "SELECT username, email, first_name, last_name, is_admin FROM users WHERE username = ?", ("root",)
    )
    assert len(rows) == 1, rows
    root = rows[0]
    assert root["is_admin"] == 1
    assert root["first_name"] == "Administrator"
    assert root["last_name"] is None
    assert root["email"] == "root@example.test"


# --------------------------------------------------------------------------- harness


def test_functions_inherit_the_test_configuration(api):
    """The function processes the emulator spawns see this backend's DATABASE_URL, and reach
    its Runtime API on the internal address, never the public one."""
    proc = Path("/proc")
    if not proc.is_dir():
        pytest.skip("needs /proc")
    assert api.get("/health").status_code == 200
    internal = api.internal.removeprefix("http://")
    seen = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "environ").read_bytes()
        except OSError:
            continue
        env = dict(item.split("=", 1) for item in raw.decode(errors="replace").split("\0") if "=" in item)
        if env.get("AWS_LAMBDA_FUNCTION_NAME") == "health" and env.get("DATA_DIR") == api.env["DATA_DIR"]:
            seen.append(env)
    assert seen, "no `health` process of this server"
    for env in seen:
        runtime_api = env["AWS_LAMBDA_RUNTIME_API"].removeprefix("http://")
        assert runtime_api.startswith(internal + "/"), runtime_api
    for env in seen:
        for key in ("DATABASE_URL", "ROOT_EMAIL", "JWT_SECRET", "DATA_DIR", "PUBLIC_HOST", "RUST_LOG"):
            assert env.get(key) == api.env[key], key


def test_client_keeps_a_leading_double_slash():
    """The contract's `//api/v1/...` paths must reach the server unchanged."""
    lines = []
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(10)

    def serve():
        conn, _ = server.accept()
        with conn:
            lines.append(conn.recv(4096).split(b"\r\n", 1)[0])
            conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    requests.post(f"http://127.0.0.1:{port}//api/v1/auth/login", json={"a": 1}, timeout=10)
    thread.join(10)
    server.close()
    assert lines == [b"POST //api/v1/auth/login HTTP/1.1"]


def test_first_link():
    page = '<p><a href="http://h:1/reset-password?token=a&amp;b=c">x</a> https://later.example/</p>'
    assert first_link(page) == "http://h:1/reset-password?token=a&b=c"


# --------------------------------------------------------------------------- configuration


def test_bad_configuration_is_one_line_naming_the_key():
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "PATH": "/usr/bin:/bin",
            "HOME": tmp,
            "DATABASE_URL": f"sqlite://{tmp}/bt.db?mode=rwc",
            "DATA_DIR": tmp,
            "JWT_ACCESS_EXPIRY": "abc",
        }
        # cwd has no .env, so only this environment counts.
        result = subprocess.run(
            [str(MIGRATE)], cwd=tmp, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60
        )
    output = result.stdout.decode(errors="replace")
    assert result.returncode != 0, output
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "JWT_ACCESS_EXPIRY" in lines[0]
    assert "panicked" not in output


def test_large_responses_are_gzipped_for_clients_that_accept_it(api):
    """The app's HTTP client sends `Accept-Encoding: gzip`; bodies over 1 KiB come back
    compressed (a long form list shrinks about tenfold), others as they are."""
    zipped = api.get("/nope", headers={"Accept-Encoding": "gzip"})
    assert zipped.status_code == 404
    assert zipped.headers.get("Content-Encoding") == "gzip"
    assert "Not Found" in zipped.text  # requests decompresses
    plain = api.get("/nope", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == 404
    assert "Content-Encoding" not in plain.headers
    assert plain.text == zipped.text
    small = api.get("/api/v1/nope", headers={"Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in small.headers
    assert small.json() == {"message": "Not found"}
