"""A function as Lambda runs it, without Lambda: a minimal Runtime API served from this
process (as much as a cold start needs, section b), the API Gateway (v2) event it is
handed, the environment Lambda gives it, and its process started from the release binary."""

from __future__ import annotations

import datetime as dt
import json
import secrets
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from .config import RELEASE, ROOT

PREFIX = "/2018-06-01/runtime"


class Invocation:
    """One cold start: one event to hand out, and what the function answered."""

    def __init__(self, function: str, event: dict):
        self.function = function
        self.request_id = str(uuid.uuid4())
        self.event = json.dumps(event).encode()
        self.handed_out = False
        self.lock = threading.Lock()
        self.answered = threading.Event()  # response or error posted
        self.released = threading.Event()  # the process is gone: let blocked polls go
        self.response_at: float | None = None
        self.response: bytes | None = None
        self.error: str | None = None


class _Handler(BaseHTTPRequestHandler):
    """`next` hands out the current invocation's event once; `response` and the error
    paths record the answer (self.server.api.current)."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *args):  # quiet
        pass

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            data = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _reply(self, status: int, body: bytes, headers: dict | None = None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        run = self.server.api.current
        if self.path != f"{PREFIX}/invocation/next" or run is None:
            self._reply(404, b'{"errorMessage":"not found"}')
            return
        with run.lock:
            first = not run.handed_out
            run.handed_out = True
        if not first:
            # Idle between invocations, until the process is killed.
            run.released.wait(120)
            self.close_connection = True
            return
        arn = f"arn:aws:lambda:us-east-1:000000000000:function:{run.function}"
        self._reply(200, run.event, {
            "Lambda-Runtime-Aws-Request-Id": run.request_id,
            "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 900_000),
            "Lambda-Runtime-Invoked-Function-Arn": arn,
            "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)};Sampled=0",
        })

    def do_POST(self):
        now = time.monotonic()
        body = self._body()
        run = self.server.api.current
        if run is not None:
            if self.path == f"{PREFIX}/invocation/{run.request_id}/response":
                run.response_at, run.response = now, body
                run.answered.set()
            elif self.path == f"{PREFIX}/init/error" or self.path.endswith("/error"):
                run.error = f"{self.path}: {body.decode(errors='replace')[:500]}"
                run.answered.set()
        self._reply(202, b'{"status":"OK"}')


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # A killed function drops its connection: expected, not worth a traceback.
        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            super().handle_error(request, client_address)


class RuntimeApi:
    """The Lambda Runtime API, as much as a cold start needs: `next` hands out one event
    (the next `next` blocks until the run is over, as an idle Lambda's would), `response`
    records the time, `init/error` and `<id>/error` record the failure."""

    def __init__(self):
        self.current: Invocation | None = None
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.api = self
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def stop(self):
        if self.current is not None:
            self.current.released.set()
        self.server.shutdown()
        self.server.server_close()


def apigw_v2_event(method: str, path: str) -> dict:
    now = dt.datetime.now(dt.timezone.utc)
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {
            "accept": "*/*",
            "host": "bench.example.test",
            "user-agent": "briefthreat-bench",
            "x-forwarded-for": "127.0.0.1",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
        },
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": "bench.example.test",
            "domainPrefix": "bench",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "briefthreat-bench",
            },
            "requestId": secrets.token_hex(8),
            "routeKey": "$default",
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "isBase64Encoded": False,
    }


def lambda_env(env: dict, function: str, runtime_api: str) -> dict:
    """`env` plus what Lambda tells a function about itself and its Runtime API."""
    return {**env, "AWS_LAMBDA_RUNTIME_API": runtime_api, "AWS_LAMBDA_FUNCTION_NAME": function,
            "AWS_LAMBDA_FUNCTION_VERSION": "1", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024"}


def start_function(function: str, env: dict, logfile: Path) -> tuple[subprocess.Popen, float]:
    """The release binary of `function` in a session of its own, its output appended to
    `logfile`: (the process, time.monotonic() just before it started)."""
    with open(logfile, "ab") as out:
        started = time.monotonic()
        proc = subprocess.Popen([str(RELEASE / function)], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, started
