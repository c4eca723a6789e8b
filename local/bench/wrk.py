"""wrk, the load generator: its Lua script for a request, one run, and its output parsed
into figures (latency percentiles, rate, errors, how long a connection sat idle)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .config import IDLE_FLOOR_MS, WRK_TIMEOUT
from .figures import median
from .runlog import BenchError

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


def lua_script(directory: Path, name: str, method: str, headers: dict, body: str | None) -> Path:
    lines = [f'wrk.method = "{method}"']
    for key, value in headers.items():
        lines.append(f'wrk.headers["{key}"] = [==[{value}]==]')
    if body is not None:
        lines.append(f"wrk.body = [==[{body}]==]")
    path = directory / f"{name}.lua"
    path.write_text("\n".join(lines) + "\n")
    return path


def parse_wrk(output: str) -> dict:
    def number(pattern, cast=float, default=None):
        m = re.search(pattern, output, re.M)
        return cast(m.group(1)) if m else default

    latency = {}
    for m in re.finditer(r"^\s+(50|75|90|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m|h)\s*$", output, re.M):
        latency[int(m.group(1))] = float(m.group(2)) * UNITS_MS[m.group(3)]
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    connect, read, write, timeout = (int(x) for x in socket_errors.groups()) if socket_errors else (0, 0, 0, 0)
    average = re.search(r"^\s+Latency\s+([\d.]+)(us|ms|s|m|h)\s", output, re.M)
    duration = re.search(r"^\s+\d+ requests in ([\d.]+)(us|ms|s|m|h),", output, re.M)
    return {
        "avg_ms": float(average.group(1)) * UNITS_MS[average.group(2)] if average else None,
        "duration_ms": float(duration.group(1)) * UNITS_MS[duration.group(2)] if duration else None,
        "requests": number(r"^\s+(\d+) requests in ", int, 0),
        "rps": number(r"^Requests/sec:\s+([\d.]+)"),
        "p50_ms": latency.get(50),
        "p90_ms": latency.get(90),
        "p99_ms": latency.get(99),
        "timeouts": timeout,
        "socket_errors": connect + read + write,
        "non_2xx": number(r"Non-2xx or 3xx responses: (\d+)", int, 0),
    }


def wrk(url: str, connections: int, seconds: int, script: Path | None) -> dict:
    threads = 1 if connections == 1 else 2
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", WRK_TIMEOUT]
    if script is not None:
        cmd += ["-s", str(script)]
    cmd.append(url)
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    if out.returncode != 0:
        raise BenchError(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout}{out.stderr}")
    result = parse_wrk(out.stdout)
    result["raw"] = out.stdout
    # How long each connection went without an answered request under way: the request in
    # flight when the run ended (wrk counts only answered ones), or one that hung (a lost
    # answer, shorter than the timeout). More than twice the p99 (and half a second): flagged
    # in the table, never redone.
    if result["duration_ms"]:
        answered_ms = result["requests"] * (result["avg_ms"] or 0.0) / connections
        result["idle_ms_per_connection"] = max(0.0, result["duration_ms"] - answered_ms)
    else:
        result["idle_ms_per_connection"] = 0.0
    result["idle"] = result["idle_ms_per_connection"] > max(2 * (result["p99_ms"] or 0.0), IDLE_FLOOR_MS)
    return result


def summary(runs: list[dict]) -> dict:
    """Several wrk runs of one load: the medians of req/s, p50 and p99, and every error."""
    return {
        "rps": median([r["rps"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs]),
        "p99_ms": median([r["p99_ms"] for r in runs]),
        "errors": sum(r["timeouts"] + r["socket_errors"] + r["non_2xx"] for r in runs),
    }
