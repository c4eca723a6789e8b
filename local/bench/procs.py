"""What /proc says about the processes under test: memory (VmRSS, VmHWM, PSS) of one
process or a whole tree, CPU time, and which process runs a function."""

from __future__ import annotations

import os
from pathlib import Path

# the tests' process helper: every process below a pid
from conftest import _descendants as descendants


def read_status_kib(pid: int, key: str):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def process_tree(pid: int) -> list[int]:
    return [pid, *descendants(pid)]


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def pss_kib(pid: int):
    """Proportional set size (shared pages split among the processes that map them)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def tree_memory(pid: int, bench_only: frozenset = frozenset()) -> dict:
    """VmRSS (and PSS) of `pid` and every process below it, summed and per process; the
    `service_` sums leave out the processes named in `bench_only`."""
    processes = []
    for p in process_tree(pid):
        rss = read_status_kib(p, "VmRSS")
        if rss is None:
            continue  # gone meanwhile
        processes.append({"pid": p, "name": comm(p), "rss_kib": rss, "pss_kib": pss_kib(p)})
    by_name: dict[str, dict] = {}
    for proc in processes:
        entry = by_name.setdefault(proc["name"], {"processes": 0, "rss_kib": 0, "max_rss_kib": 0})
        entry["processes"] += 1
        entry["rss_kib"] += proc["rss_kib"]
        entry["max_rss_kib"] = max(entry["max_rss_kib"], proc["rss_kib"])
    pss = [proc["pss_kib"] for proc in processes]
    service = [proc for proc in processes if proc["name"] not in bench_only]
    service_pss = [proc["pss_kib"] for proc in service]
    return {
        "service_processes": len(service),
        "service_rss_kib": sum(proc["rss_kib"] for proc in service),
        "service_pss_kib": sum(service_pss) if service_pss and None not in service_pss else None,
        "left_out": sorted({proc["name"] for proc in processes if proc["name"] in bench_only}),
        "processes": len(processes),
        "rss_kib": sum(proc["rss_kib"] for proc in processes),
        "pss_kib": sum(pss) if pss and None not in pss else None,
        "root_rss_kib": next((proc["rss_kib"] for proc in processes if proc["pid"] == pid), None),
        "by_name": by_name,
        "per_process": processes,
    }


def cpu_seconds(pid: int):
    """utime + stime of a process so far, in seconds (None when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def instance_pid(parent: int, function: str):
    """The running instance of `function` below `parent` (the emulator's child process)."""
    for pid in descendants(parent):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == function[:15]:
                return pid
        except OSError:
            continue
    return None
