"""Requests outside wrk: one checked request (anything unexpected is recorded, never
retried) and one timed request of a sequential sample."""

from __future__ import annotations

import time

import requests

from .config import HTTP_TIMEOUT, IDENTITY
from .runlog import anomaly


def checked_request(method: str, url: str, expect: int, **kwargs) -> requests.Response | None:
    """One request that should answer `expect`: anything else (another status, no answer
    within the timeout) is recorded in ANOMALIES and shown in the table, never retried.
    None when there was no answer."""
    kwargs.setdefault("timeout", HTTP_TIMEOUT)
    headers = {**IDENTITY, **kwargs.pop("headers", {})}
    try:
        resp = requests.request(method, url, headers=headers, allow_redirects=False, **kwargs)
    except requests.RequestException as e:
        anomaly(f"{method} {url}: no answer ({type(e).__name__}: {str(e)[:200]})")
        return None
    if resp.status_code != expect:
        anomaly(f"{method} {url}: expected {expect}, got {resp.status_code} {resp.text[:200]!r}")
    return resp


def timed(session: requests.Session, method: str, url: str, **kwargs) -> tuple[float, requests.Response]:
    started = time.perf_counter()
    resp = session.request(method, url, allow_redirects=False, **kwargs)
    return (time.perf_counter() - started) * 1000, resp
