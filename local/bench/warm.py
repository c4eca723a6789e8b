"""One warm row of section c: a request under wrk load at each connection count through
each front, runs taking turns between the fronts, each followed by a short run of the floor
through the same front (the paired floor of the ÷ floor ratio); medians per front."""

from __future__ import annotations

from pathlib import Path

from .client import checked_request
from .config import CONNECTIONS, FLOOR_PATH, FLOOR_SECONDS, LIST_GET_TIMEOUT, WRK_RUNS, WRK_WARMUP
from .figures import fmt_ms, fmt_rate, median
from .runlog import anomaly, log
from .wrk import lua_script, wrk


def floor_run(front: dict, connections: int) -> dict:
    """A short run of the floor through `front`, right after a run of a row: the two share
    whatever else the machine was doing at that moment, so their ratio is steadier than a
    ratio to the floor row measured minutes earlier."""
    return wrk(front["base"] + FLOOR_PATH, connections, FLOOR_SECONDS, None)


def warm_up(fronts: list[dict], label: str, connections: int, method: str, path: str, headers: dict,
            body: str | None, expect: int, script: Path | None) -> None:
    """Through each front: one checked request, then a WRK_WARMUP s wrk run (its errors are
    reported as unexpected)."""
    for front in fronts:
        checked_request(method, front["base"] + path, expect, headers=headers, data=body,
                        timeout=LIST_GET_TIMEOUT, verify=front["verify"])
        if not WRK_WARMUP:
            continue
        run = wrk(front["base"] + path, connections, WRK_WARMUP, script)
        if run["timeouts"] or run["socket_errors"] or run["non_2xx"]:
            anomaly(f"{label} c{connections} via {front['name']}, wrk warm-up: timeouts {run['timeouts']}, "
                    f"socket errors {run['socket_errors']}, non-2xx {run['non_2xx']}")


def measured_runs(fronts: list[dict], url_path: str, connections: int, seconds: int,
                  script: Path | None) -> dict[str, dict]:
    """WRK_RUNS rounds, each one run through every front in turn, each run followed by its
    paired floor run (a floor row is its own pair): {front: {"runs": [...], "floor": [...]}}."""
    is_floor = url_path == FLOOR_PATH
    per_front = {front["name"]: {"runs": [], "floor": []} for front in fronts}
    for _ in range(WRK_RUNS):
        for front in fronts:
            mine = per_front[front["name"]]
            run = wrk(front["base"] + url_path, connections, seconds, script)
            mine["runs"].append(run)
            mine["floor"].append(run if is_floor else floor_run(front, connections))
    return per_front


def row_figures(runs: list[dict], floors: list[dict], is_floor: bool) -> dict:
    """The medians and sums of one front's runs (and of the floor runs beside them)."""
    return {
        "runs": len(runs),
        "rps": median([r["rps"] for r in runs]),
        "p50_ms": median([r["p50_ms"] for r in runs if r["requests"]]),
        "p99_ms": median([r["p99_ms"] for r in runs if r["requests"]]),
        "paired_floor_p50_ms": median([r["p50_ms"] for r in floors if r["requests"]]),
        "paired_floor_p50_runs_ms": [r["p50_ms"] for r in floors],
        "requests": sum(r["requests"] for r in runs),
        "timeouts": sum(r["timeouts"] for r in runs),
        "socket_errors": sum(r["socket_errors"] for r in runs),
        "non_2xx": sum(r["non_2xx"] for r in runs),
        # the paired floor runs are load too: their errors count
        "floor_errors": 0 if is_floor else sum(r["timeouts"] + r["socket_errors"] + r["non_2xx"]
                                               for r in floors),
        "idle_ms_per_connection_runs": [round(r["idle_ms_per_connection"], 1) for r in runs],
        "idle_runs": sum(1 for r in runs if r["idle"]),
        "rps_runs": [r["rps"] for r in runs],
        "p50_runs_ms": [r["p50_ms"] for r in runs],
        "p99_runs_ms": [r["p99_ms"] for r in runs],
    }


def warm_row(fronts: list[dict], tmp: Path, key: str, label: str, method: str, path: str,
             headers: dict, body: str | None, expect: int, seconds: int, note: str = "") -> list[dict]:
    """One row per connection count and front (the emulator itself, nginx in front of it;
    for the floor also cargo-lambda). Per connection count: one checked request and a
    WRK_WARMUP s wrk warm-up through each front, then WRK_RUNS rounds, each one run of
    `seconds` through every front in turn, every run followed by a FLOOR_SECONDS run of the
    floor through the same front (the paired floor of the ratio); medians per front."""
    script = lua_script(tmp, key, method, headers, body) if (method != "GET" or headers or body) else None
    is_floor = path == FLOOR_PATH
    rows = []
    for connections in CONNECTIONS:
        log(f"   {label} c{connections}: warm-up {WRK_WARMUP}s, then {WRK_RUNS} x {seconds}s through "
            f"{' and '.join(f['name'] for f in fronts)}" + ("" if is_floor else f", each + {FLOOR_SECONDS}s of floor"))
        warm_up(fronts, label, connections, method, path, headers, body, expect, script)
        per_front = measured_runs(fronts, path, connections, seconds, script)
        for front in fronts:
            runs, floors = per_front[front["name"]]["runs"], per_front[front["name"]]["floor"]
            row = {"key": key, "label": label, "via": front["name"], "connections": connections,
                   "seconds_per_run": seconds, **row_figures(runs, floors, is_floor),
                   "expected_status": expect, "note": note, "wrk_output_last_run": runs[-1]["raw"]}
            rows.append(row)
            log(f"      {front['name']}: {fmt_rate(row['rps'])} req/s, p50 {fmt_ms(row['p50_ms'])}, "
                f"p99 {fmt_ms(row['p99_ms'])} (floor beside it: p50 {fmt_ms(row['paired_floor_p50_ms'])}), "
                f"timeouts {row['timeouts']}, errors {row['socket_errors']}, non-2xx {row['non_2xx']}"
                + (f", floor runs' errors {row['floor_errors']}" if row["floor_errors"] else ""))
    return rows
