"""The floor function alone (a row of section c): one release `floor` process against a
minimal Runtime API on raw sockets in this process, invocations back to back, no HTTP
front: what the emulator adds is the floor rows' p50 minus this one's."""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path

from .config import ALONE_SAMPLES, ALONE_WARMUP, FLOOR_PATH
from .figures import fmt_ms
from .runlog import BenchError, log, tail
from .runtime_api import apigw_v2_event, lambda_env, start_function

INVOCATION = "/2018-06-01/runtime/invocation/"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:floor"
ACCEPTED = b'{"status":"OK"}'


def _more(conn: socket.socket, buffer: bytearray) -> None:
    chunk = conn.recv(65536)
    if not chunk:
        raise ConnectionError("closed mid-request")
    buffer += chunk


def _read_chunked(conn: socket.socket, buffer: bytearray) -> bytes:
    """A chunked body from `conn` (`buffer` keeps what was read past it)."""
    body = bytearray()
    while True:
        while b"\r\n" not in buffer:
            _more(conn, buffer)
        size_line, _, _ = bytes(buffer).partition(b"\r\n")
        size = int(size_line.split(b";")[0].strip() or b"0", 16)
        start = len(size_line) + 2
        while len(buffer) < start + size + 2:
            _more(conn, buffer)
        body += buffer[start:start + size]
        buffer[:] = buffer[start + size + 2:]
        if size == 0:
            return bytes(body)


def _read_request(conn: socket.socket, buffer: bytearray):
    """One HTTP/1.1 request from `conn` (`buffer` keeps what was read past it): (the time
    its first bytes arrived, method, path, body); None when the peer closed."""
    first_at = time.perf_counter() if buffer else None
    while b"\r\n\r\n" not in buffer:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        if first_at is None:
            first_at = time.perf_counter()
        buffer += chunk
    head, _, rest = bytes(buffer).partition(b"\r\n\r\n")
    buffer[:] = rest
    lines = head.decode("latin-1").split("\r\n")
    method, path = lines[0].split(" ")[:2]
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return first_at, method, path, _read_chunked(conn, buffer)
    length = int(headers.get("content-length") or 0)
    while len(buffer) < length:
        _more(conn, buffer)
    body = bytes(buffer[:length])
    buffer[:] = buffer[length:]
    return first_at, method, path, body


class BackToBack:
    """The minimal Runtime API: `next` hands out the next of `total` events as soon as it
    is asked; each response past the warm-ups is one sample, from just before its event
    was written to the first bytes of the function's response POST."""

    def __init__(self, total: int):
        event = apigw_v2_event("GET", FLOOR_PATH)
        self.payloads = []
        for i in range(total):
            event["requestContext"]["requestId"] = f"{i:016x}"
            self.payloads.append(json.dumps(event).encode())
        self.total = total
        self.handed = 0
        self.sent_at: dict[str, float] = {}
        self.samples: list[float] = []
        self.statuses: dict = {}
        self.errors: list[str] = []
        self.done = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.done.is_set():
            try:
                conn, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = bytearray()
        try:
            while True:
                request = _read_request(conn, buffer)
                if request is None:
                    return
                first_at, method, path, body = request
                if method == "GET" and path == INVOCATION + "next":
                    if not self._hand_out(conn):
                        return
                    continue
                if method == "POST" and path.endswith("/response"):
                    self._record(first_at, path, body)
                else:
                    self.errors.append(f"{method} {path}: {body[:300]!r}")
                    self.done.set()
                conn.sendall(b"HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: "
                             + str(len(ACCEPTED)).encode() + b"\r\n\r\n" + ACCEPTED)
        except OSError:
            return
        finally:
            conn.close()

    def _hand_out(self, conn: socket.socket) -> bool:
        """Writes the next event to `conn`; False once all are handed out (after the run)."""
        i = self.handed
        if i >= self.total:
            self.done.wait(60)
            return False
        self.handed = i + 1
        request_id = f"bench-{i:08d}"
        payload = self.payloads[i]
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                f"Lambda-Runtime-Aws-Request-Id: {request_id}\r\n"
                f"Lambda-Runtime-Deadline-Ms: {int(time.time() * 1000) + 900_000}\r\n"
                f"Lambda-Runtime-Invoked-Function-Arn: {ARN}\r\n"
                f"Lambda-Runtime-Trace-Id: Root=1-00000000-000000000000000000000000;Sampled=0\r\n\r\n"
                ).encode() + payload
        self.sent_at[request_id] = time.perf_counter()
        conn.sendall(head)
        return True

    def _record(self, first_at: float, path: str, body: bytes) -> None:
        request_id = path[len(INVOCATION):-len("/response")]
        sent_at = self.sent_at.pop(request_id, None)
        if sent_at is not None and int(request_id.split("-")[1]) >= ALONE_WARMUP:
            self.samples.append((first_at - sent_at) * 1000)
        try:
            code = json.loads(body).get("statusCode")
        except (ValueError, AttributeError):
            code = None
        self.statuses[code] = self.statuses.get(code, 0) + 1
        if len(self.samples) >= ALONE_SAMPLES:
            self.done.set()


def floor_alone(env: dict, logfile: Path) -> dict:
    """The floor function's own cost of one warm invocation, with no HTTP front: one release
    `floor` process against a minimal Runtime API on raw sockets in this process, which
    hands out the next event as soon as it is asked. Each sample runs from just before the
    event is written to `next`'s connection until the first bytes of the function's
    response POST arrive: reading the event, lambda_http and the handler, writing the
    answer. Whatever the emulator's floor rows take beyond this at one connection is the
    HTTP front (API Gateway's part: the client's hop, the event built, the answer mapped)
    and the Lambda service's hand-over: what the emulator adds."""
    log(f"   the floor function alone: {ALONE_WARMUP} + {ALONE_SAMPLES} invocations back to back "
        f"against a minimal Runtime API")
    api = BackToBack(ALONE_WARMUP + ALONE_SAMPLES)
    proc, _ = start_function("floor", lambda_env(env, "floor", api.address), logfile)
    started = time.monotonic()
    try:
        while not api.done.wait(0.1):
            if proc.poll() is not None:
                raise BenchError(f"floor exited {proc.returncode} against the minimal Runtime API:\n{tail(logfile)}")
            if time.monotonic() - started > 120:
                raise BenchError(f"floor alone: {len(api.samples)} of {ALONE_SAMPLES} invocations in 120 s")
        seconds = time.monotonic() - started
    finally:
        api.done.set()
        proc.kill()
        proc.wait()
        api.listener.close()
    if api.errors:
        raise BenchError(f"floor alone: unexpected requests {api.errors[:3]}")
    samples = sorted(api.samples)
    result = {
        "invocations": api.total,
        "samples": len(samples),
        "p50_ms": samples[len(samples) // 2],
        "p90_ms": samples[int(len(samples) * 0.90)],
        "p99_ms": samples[int(len(samples) * 0.99)],
        "statuses": {str(k): v for k, v in api.statuses.items()},
        "seconds": seconds,
    }
    log(f"      p50 {fmt_ms(result['p50_ms'])}, p99 {fmt_ms(result['p99_ms'])} over {len(samples)} invocations "
        f"(statuses {result['statuses']})")
    return result
