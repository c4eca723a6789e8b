"""Section b: the cold start of each function, started directly against a minimal Lambda
Runtime API served from this process: process start -> the response POST, and the peak
RSS (VmHWM) just before the process is killed."""

from __future__ import annotations

import json
import time
from pathlib import Path

from .config import COLD_RUNS, EVENT_FUNCTIONS
from .figures import fmt_ms, median
from .procs import read_status_kib
from .runlog import BenchError, log, tail
from .runtime_api import Invocation, RuntimeApi, apigw_v2_event, lambda_env, start_function


def cold_start_once(function: str, event: dict, env: dict, logfile: Path) -> dict:
    # A Runtime API of its own for every run: a poll that the previous (killed) process sent
    # just before it died must never be handed this run's event.
    api = RuntimeApi()
    run = Invocation(function, event)
    api.current = run
    env = {
        **lambda_env(env, function, api.address),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
    }
    proc, started = start_function(function, env, logfile)
    try:
        deadline = started + 60
        while not run.answered.wait(0.05):
            if proc.poll() is not None:
                raise BenchError(f"{function} exited with {proc.returncode} before answering:\n{tail(logfile)}")
            if time.monotonic() > deadline:
                raise BenchError(f"{function} did not answer within 60 s:\n{tail(logfile)}")
        if run.error:
            raise BenchError(f"{function} reported an error: {run.error}\n{tail(logfile)}")
        peak_kib = read_status_kib(proc.pid, "VmHWM")
    finally:
        proc.kill()
        proc.wait()
        run.released.set()
        api.stop()
    status = None
    try:
        status = json.loads(run.response).get("statusCode")
    except (ValueError, AttributeError):
        pass
    return {"ms": (run.response_at - started) * 1000, "peak_rss_kib": peak_kib, "status": status}


def cold_starts_of(function: str, routes: dict[str, str], env: dict, tmp: Path) -> dict:
    """COLD_RUNS cold starts of `function`: an event function gets `{}`, an HTTP one a GET
    of its route."""
    if function in EVENT_FUNCTIONS:
        event, what = {}, "{}"
    else:
        path = routes[function]
        event, what = apigw_v2_event("GET", path), f"GET {path}"
    runs = [cold_start_once(function, event, env, tmp / f"cold-{function}.log") for _ in range(COLD_RUNS)]
    ms = [r["ms"] for r in runs]
    return {
        "function": function,
        "event": what,
        "runs_ms": [round(m, 2) for m in ms],
        "median_ms": median(ms),
        "min_ms": min(ms),
        "max_ms": max(ms),
        "peak_rss_kib": median([r["peak_rss_kib"] for r in runs]),
        "status": runs[-1]["status"],
    }


def section_cold_starts(functions: list[str], routes: dict[str, str], env: dict, tmp: Path) -> list[dict]:
    log(f"b. cold starts: {len(functions)} functions x {COLD_RUNS} runs, against a local Runtime API")
    results = []
    for function in functions:
        result = cold_starts_of(function, routes, env, tmp)
        results.append(result)
        log(f"   {function:15} {fmt_ms(result['median_ms']):>10}  peak RSS "
            f"{(result['peak_rss_kib'] or 0) / 1024:.1f} MiB  ({result['event']} -> {result['status']})")
    return results
