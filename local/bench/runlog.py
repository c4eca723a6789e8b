"""The run's log on stderr and what it records on the way: the wall time of each section,
and every unexpected answer outside wrk's own counts (reported in the table, never retried)."""

from __future__ import annotations

import sys
import time

from conftest import _log_tail

STARTED = time.monotonic()
SECTION_SECONDS: dict[str, float] = {}
_last_mark = [STARTED]
# Unexpected answers outside wrk's own counts (warm-ups, probes, sequential samples): every
# one is reported in the table, none retried.
ANOMALIES: list[str] = []


class BenchError(Exception):
    pass


def log(message: str) -> None:
    print(f"[bench {time.monotonic() - STARTED:6.1f}s] {message}", file=sys.stderr, flush=True)


def mark_section(name: str) -> None:
    """Wall time since the previous mark, recorded as section `name`."""
    now = time.monotonic()
    SECTION_SECONDS[name] = round(now - _last_mark[0], 1)
    _last_mark[0] = now


def anomaly(message: str) -> None:
    ANOMALIES.append(message)
    log(f"   UNEXPECTED: {message}")


def tail(path) -> str:
    """The end of a log of this run, for an error message (tests/conftest.py's reading)."""
    return _log_tail(path, 4000)
