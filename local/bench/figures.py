"""Medians and the formats of the figures in the table and the log."""

from __future__ import annotations

import statistics


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt_ms(ms) -> str:
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.2f} ms"
    if ms < 100:
        return f"{ms:.1f} ms"
    return f"{ms:,.0f} ms"


def fmt_bytes(n: int) -> str:
    return f"{n / 1024 / 1024:.2f} MiB" if n >= 1024 * 1024 else f"{n / 1024:.0f} KiB"


def fmt_ratio(r) -> str:
    return "-" if r is None else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def fmt_rate(r) -> str:
    if r is None:
        return "-"
    return f"{r:,.0f}" if r >= 100 else f"{r:.1f}"


def mib(kib) -> str:
    return "-" if kib is None else f"{kib / 1024:.1f} MiB"
