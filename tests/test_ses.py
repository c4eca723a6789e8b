"""Amazon SES delivery, against a local SES emulator (moto_server): AWS itself cannot run
here. A fresh embedded database with no ROOT_PASSWORD queues root's registration e-mail;
the `email` function, configured with EMAIL_TRANSPORT=ses, sends it through SESv2."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import free_port, invoke, start_stack, stop_server

SENDER = "noreply@example.test"


@pytest.fixture(scope="module")
def moto(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    moto_server = Path(sys.executable).parent / "moto_server"
    with open(log, "wb") as out:
        proc = subprocess.Popen([str(moto_server), "-H", "127.0.0.1", "-p", str(port)], stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + "/moto-api/data.json", timeout=5).read()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    yield base
    proc.terminate()
    proc.wait(10)


def ses_stack(tmp: Path, moto: str, root_email: str):
    """A server whose `email` function sends through SES at `moto`."""
    return start_stack(
        tmp,
        ROOT_PASSWORD="",
        ROOT_EMAIL=root_email,
        EMAIL_FROM=SENDER,
        EMAIL_TRANSPORT="ses",
        SES_ENDPOINT_URL=moto,
        AWS_ACCESS_KEY_ID="test",
        AWS_SECRET_ACCESS_KEY="test",
        AWS_REGION="us-east-1",
        # only the test's own invocations deliver: no backstop schedule in between
        EMAIL_SCHEDULE_SECONDS="3600",
    )


def ses_state(moto: str) -> dict:
    with urllib.request.urlopen(moto + "/moto-api/data.json", timeout=10) as resp:
        return json.loads(resp.read())["ses"]


def verify_sender(moto: str) -> None:
    import boto3  # noqa: PLC0415

    client = boto3.client(
        "sesv2", endpoint_url=moto, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
    )
    client.create_email_identity(EmailIdentity=SENDER)


def test_unverified_sender_is_a_dead_letter_then_ses_delivers_after_retry(moto, tmp_path):
    proc, base = ses_stack(tmp_path, moto, "ops@example.test")
    try:
        # SES refuses mail from an unverified identity: permanent, so a dead letter at once
        report = invoke(base, "email")
        assert report["dead"] == 1 and report["delivered"] == 0, report
        try:
            urllib.request.urlopen(base + "/health", timeout=30)
            raise AssertionError("/health should fail while a dead letter is waiting")
        except urllib.error.HTTPError as e:
            assert e.code == 500
            failed = json.loads(e.read())["results"][1]["output"]["failed"]
            assert len(failed) == 1

        # verified now: retrying the dead letter delivers it through SES
        verify_sender(moto)
        report = invoke(base, "email", {"retry_dead": []})
        assert report["retried_dead"] == 1 and report["delivered"] == 1, report
    finally:
        stop_server(proc)

    sent = ses_state(moto)["RawMessage"]
    assert len(sent) == 1
    message = email.message_from_string(sent[0]["raw_data"], policy=email.policy.default)
    assert message["Subject"] == "BriefThreat registration"
    assert str(message["To"]) == "Administrator <ops@example.test>"
    assert str(message["From"]) == f"BriefThreat <{SENDER}>"
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "http://bt.example.test/reset-password?token=" in html


def silent_server() -> tuple[str, socket.socket]:
    """An endpoint that accepts connections and reads requests but never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    held = []

    def hold():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            held.append(conn)  # kept open, never answered

    threading.Thread(target=hold, daemon=True).start()
    return f"http://127.0.0.1:{listener.getsockname()[1]}", listener


def test_an_ses_endpoint_that_never_answers_is_a_retry_not_a_hang(tmp_path):
    endpoint, listener = silent_server()
    proc, base = ses_stack(tmp_path, endpoint, "ops@example.test")
    try:
        started = time.monotonic()
        report = invoke(base, "email", timeout=60)
        elapsed = time.monotonic() - started
        # the send gives up after its 20 s, like an SMTP send; the message stays queued
        assert report["retrying"] == 1 and report["delivered"] == 0 and report["dead"] == 0, report
        assert 15 < elapsed < 40, elapsed
    finally:
        stop_server(proc)
        listener.close()
