"""The project's emulator (target/release/lambda-emulator) as the bench runs it: started
over the release binaries, ready, its idle memory, its Invoke API, and what its log says
went wrong."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import requests

from conftest import _descendants as descendants, launch_emulator, stop_server
from .config import EMAIL_SCHEDULE_SECONDS, BENCH_ONLY_FUNCTIONS, CONCURRENCY, EVENT_FUNCTIONS, HTTP_TIMEOUT, IDLE_SETTLE, INSTANCES, RELEASE, START_TIMEOUT
from .procs import tree_memory
from .runlog import BenchError, tail


class Emulator:
    """The project's emulator (target/release/lambda-emulator) over the release binaries, on
    a free loopback port, configuration in its environment (the functions inherit it;
    RUST_LOG is theirs, LAMBDA_EMULATOR_LOG the emulator's): API Gateway on `base`, the
    Runtime and Invoke APIs on another loopback port (`internal`, read from the file it
    writes). The bench migrates the database itself (--no-migrate)."""

    def __init__(self, env: dict, port: int, logfile: Path, functions: list[str]):
        self.base = f"http://127.0.0.1:{port}"
        self.logfile = logfile
        self.functions = functions  # the binaries it is expected to serve
        args = (["--instances", INSTANCES] if INSTANCES else []) + (["--concurrency", CONCURRENCY] if CONCURRENCY else [])
        self.command = " ".join(["target/release/lambda-emulator --bin-dir target/release --listen 127.0.0.1:PORT "
                                 "--internal 127.0.0.1:0 --internal-addr-file FILE --no-migrate", *args])
        # Its defaults, whatever the shell says; the schedules far beyond the run (a blank
        # value would let a developer's .env in: the emulator reads it for the schedules).
        env = {k: v for k, v in env.items() if k != "LAMBDA_EMULATOR_WORKERS"}
        env.update(LAMBDA_EMULATOR_LOG="info", EMAIL_SCHEDULE_SECONDS=str(EMAIL_SCHEDULE_SECONDS),
                   CLEANUP_INTERVAL=str(EMAIL_SCHEDULE_SECONDS))
        try:
            self.proc, self.internal = launch_emulator(RELEASE, port, env, logfile, *args)
        except RuntimeError as e:
            raise BenchError(str(e)) from None
        self.instances = None  # per HTTP function, from its "serving on" line
        self.concurrency = None  # invocations at once per instance, from the same line

    def log_lines(self) -> list[dict]:
        """The emulator's log so far: one JSON object per line (anything else is skipped)."""
        lines = []
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return lines
        for line in text.splitlines():
            try:
                item = json.loads(line)
            except ValueError:
                continue
            if isinstance(item, dict):
                lines.append(item)
        return lines

    def wait_for_health(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        last = "no answer"
        while True:
            if self.proc.poll() is not None:
                raise BenchError(f"the emulator exited {self.proc.returncode}:\n{tail(self.logfile)}")
            try:
                resp = requests.get(self.base + "/health", timeout=HTTP_TIMEOUT)
                if resp.status_code == 200:
                    break
                last = f"{resp.status_code} {resp.text[:300]}"
            except requests.RequestException as e:
                last = repr(e)
            if time.monotonic() > deadline:
                raise BenchError(f"GET /health not 200 after {START_TIMEOUT:.0f}s (last: {last}):\n{tail(self.logfile)}")
            time.sleep(0.1)
        for item in self.log_lines():
            if "instances" in item and str(item.get("message", "")).startswith("serving on"):
                self.instances = int(item["instances"])
                self.concurrency = int(item.get("concurrency", 1))

    def expected_processes(self) -> int:
        """Function instances once all are up: `instances` of each HTTP function, one of
        each event function."""
        http = [f for f in self.functions if f not in EVENT_FUNCTIONS]
        return len(http) * (self.instances or 1) + len(self.functions) - len(http)

    def idle_memory(self) -> dict:
        """RSS just after the start, every instance up and idle (IDLE_SETTLE s after the
        last one appeared): the emulator alone and the whole tree."""
        want = self.expected_processes()
        deadline = time.monotonic() + START_TIMEOUT
        while len(descendants(self.proc.pid)) < want:
            if time.monotonic() > deadline:
                raise BenchError(f"only {len(descendants(self.proc.pid))} of {want} function instances came up:\n"
                                 f"{tail(self.logfile)}")
            time.sleep(0.1)
        time.sleep(IDLE_SETTLE)
        memory = tree_memory(self.proc.pid, BENCH_ONLY_FUNCTIONS)
        memory["expected_instances"] = want
        return memory

    def invoke(self, function: str, payload=None, timeout: float = 120):
        """A RequestResponse Invoke through the emulator's Invoke API (internal address)."""
        resp = requests.post(f"{self.internal}/2015-03-31/functions/{function}/invocations",
                             json=payload or {}, timeout=timeout)
        if resp.status_code != 200 or resp.headers.get("X-Amz-Function-Error"):
            raise BenchError(f"invoke {function}: {resp.status_code} {resp.text[:500]}")
        return resp.json() if resp.content else None

    def health_report(self) -> dict:
        """What its log says went wrong: answers of 5xx, warnings and errors (an instance
        that died and was restarted, a function error, an answer that could not be read)."""
        lines = self.log_lines()
        requests_logged = [x for x in lines if x.get("type") == "request"]
        server_errors = [x for x in requests_logged if int(x.get("status", 0) or 0) >= 500]
        trouble = [x for x in lines if str(x.get("level", "")).upper() in ("WARN", "ERROR")
                   and x.get("type") != "request"]
        function_trouble = [x for x in lines if x.get("type") == "function"
                            and re.match(r"\s*(WARN|ERROR)\b", str(x.get("message", "")))]
        return {
            "function_warnings_errors": len(function_trouble),
            "function_warnings_errors_kinds": trouble_kinds(function_trouble),
            "function_warnings_errors_first": function_trouble[:10],
            "requests_logged": len(requests_logged),
            "status_5xx": len(server_errors),
            "status_5xx_first": server_errors[:5],
            "warnings_errors": len(trouble),
            "warnings_errors_first": trouble[:10],
            "restarts": sum(1 for x in trouble if "restarting" in str(x.get("message", ""))),
        }

    def stop(self) -> None:
        stop_server(self.proc)


def trouble_kinds(function_trouble: list[dict]) -> dict[str, int]:
    """How many of the functions' WARN/ERROR lines of each kind:
    "WARN ... invoke{...}: slow statement: ..." -> "WARN <function>: slow statement"."""
    kinds: dict[str, int] = {}
    for x in function_trouble:
        text = str(x.get("message", "")).strip()
        level, what = text.split(" ", 1)[0], text.split("}: ", 1)[-1]
        kind = f"{level} {x.get('function', '?')}: {what.split(':', 1)[0][:40]}"
        kinds[kind] = kinds.get(kind, 0) + 1
    return kinds
