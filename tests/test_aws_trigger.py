"""Prompt delivery in AWS: a commit that queues e-mail invokes the `email` function
asynchronously (Lambda Invoke, `X-Amz-Invocation-Type: Event`, SigV4-signed with the
function's credentials). AWS itself cannot run here, so a recording HTTP server stands in
for the Lambda endpoint; botocore recomputes the signature to check it."""

from __future__ import annotations

import http.server
import threading
import time

import pytest
import requests

from authhelpers import auth
from conftest import free_port, start_stack, stop_server

FUNCTION_PATH = "/2015-03-31/functions/bt-email/invocations"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "wJalrXUtnFEMI/K7MDENG", "AWS_SESSION_TOKEN": "session-token"}


class Recorder(http.server.ThreadingHTTPServer):
    def __init__(self, port):
        self.calls = []
        super().__init__(("127.0.0.1", port), RecordingHandler)


class RecordingHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.calls.append((self.path, dict(self.headers), body))
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def lambda_endpoint():
    server = Recorder(free_port())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def stack(lambda_endpoint, tmp_path_factory):
    proc, base = start_stack(
        tmp_path_factory.mktemp("aws-trigger"),
        ROOT_PASSWORD="root-pw",
        EMAIL_INVOKE_URL=f"http://127.0.0.1:{lambda_endpoint.server_port}{FUNCTION_PATH}",
        AWS_REGION="eu-west-1",
        **CREDENTIALS,
    )
    yield base
    stop_server(proc)


def wait_calls(server, count, timeout=10.0):
    deadline = time.monotonic() + timeout
    while len(server.calls) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    return list(server.calls)


def check_signature(path, headers, body, port):
    """Recompute the SigV4 signature with botocore at the request's own timestamp."""
    from unittest import mock  # noqa: PLC0415

    import botocore.auth  # noqa: PLC0415
    import botocore.awsrequest  # noqa: PLC0415
    import botocore.credentials  # noqa: PLC0415
    from datetime import datetime  # noqa: PLC0415

    stamp = datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    request = botocore.awsrequest.AWSRequest(
        method="POST",
        url=f"http://127.0.0.1:{port}{path}",
        data=body,
        headers={k: v for k, v in headers.items() if k.lower() in ("content-type", "x-amz-invocation-type")},
    )
    credentials = botocore.credentials.Credentials(
        CREDENTIALS["AWS_ACCESS_KEY_ID"], CREDENTIALS["AWS_SECRET_ACCESS_KEY"], CREDENTIALS["AWS_SESSION_TOKEN"]
    )
    with mock.patch("botocore.auth.get_current_datetime", return_value=stamp):
        botocore.auth.SigV4Auth(credentials, "lambda", "eu-west-1").add_auth(request)
    expected = request.headers["Authorization"].split("Signature=")[1]
    assert headers["authorization"].split("Signature=")[1] == expected


def test_queueing_mail_invokes_the_email_function_asynchronously(stack, lambda_endpoint):
    before = len(lambda_endpoint.calls)
    token = requests.post(
        stack + "/api/v1/auth/login", json={"username": "root", "password": "root-pw"}, timeout=30
    ).json()["access_token"]
    resp = requests.post(
        stack + "/api/v1/auth/register",
        json={"username": "trig", "email": "trig@example.test", "is_admin": False, "first_name": "T"},
        headers=auth(token),
        timeout=30,
    )
    assert resp.status_code == 204, resp.text
    calls = wait_calls(lambda_endpoint, before + 1)
    assert len(calls) == before + 1
    path, headers, body = calls[-1]
    headers = {k.lower(): v for k, v in headers.items()}
    assert path == FUNCTION_PATH
    assert headers["x-amz-invocation-type"] == "Event"
    assert headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"
    ) and "/eu-west-1/lambda/aws4_request" in headers["authorization"]
    assert headers["x-amz-security-token"] == "session-token"
    assert body == b"{}"
    check_signature(path, headers, body, lambda_endpoint.server_port)


def test_writes_without_mail_do_not_invoke(stack, lambda_endpoint):
    token = requests.post(
        stack + "/api/v1/auth/login", json={"username": "root", "password": "root-pw"}, timeout=30
    ).json()["access_token"]
    before = len(wait_calls(lambda_endpoint, 0))
    # a password change queues nothing
    resp = requests.put(stack + "/api/v1/auth/login", json={"password": "root-pw"}, headers=auth(token), timeout=30)
    assert resp.status_code == 204
    time.sleep(0.5)
    assert len(lambda_endpoint.calls) == before
