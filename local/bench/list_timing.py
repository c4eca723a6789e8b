"""Section e: GET /api/v1/form as admin, LIST_SAMPLES sequential requests at one list size
(the warm rows of c run beside it at each size). Each request follows a change to the forms
(their version raised by SQL, untimed), so every list is read and written afresh, at either
size: the growth is the rows', not the kept list's (`shared/src/app/form_lists.rs`). The
client's own CPU time per request (Python's `requests` reading the body) is reported beside
the median: on two cores it competes with the service for the same CPUs."""

from __future__ import annotations

import time

import requests

from .client import checked_request, timed
from .config import IDENTITY, LIST_GET_TIMEOUT, LIST_SAMPLES
from .emulator import Emulator
from .figures import median
from .runlog import BenchError, anomaly
from .seed import FORMS_CHANGED
from .stores import mysql


def list_timing(emu: Emulator, token: str, forms: int, db_url: str) -> dict:
    url = emu.base + "/api/v1/form"
    headers = {"Authorization": f"Bearer {token}"}
    samples, client_cpu, lost, wrong_status, size = [], [], 0, 0, None
    checked_request("GET", url, 200, headers=headers, timeout=LIST_GET_TIMEOUT)  # warm, not sampled
    db = mysql(db_url)
    with db, db.cursor() as cursor, requests.Session() as session:
        session.headers.update(IDENTITY)
        while len(samples) < LIST_SAMPLES:
            cursor.execute(FORMS_CHANGED)
            if lost + wrong_status > LIST_SAMPLES:
                raise BenchError(f"GET /api/v1/form ({forms} forms): {lost} without answer, {wrong_status} not 200")
            try:
                cpu_started = time.process_time()
                ms, resp = timed(session, "GET", url, headers=headers, timeout=LIST_GET_TIMEOUT)
                cpu_ms = (time.process_time() - cpu_started) * 1000
            except requests.RequestException as e:
                lost += 1  # counted and reported, not sampled
                anomaly(f"GET /api/v1/form ({forms} forms): no answer in {LIST_GET_TIMEOUT:.0f} s ({type(e).__name__})")
                session.close()
                continue
            if resp.status_code != 200:
                wrong_status += 1  # counted and reported, not sampled
                anomaly(f"GET /api/v1/form ({forms} forms): {resp.status_code} {resp.text[:200]!r}")
                continue
            count = len(resp.json())
            if count < forms:
                raise BenchError(f"GET /api/v1/form listed {count} forms, expected {forms}")
            size = len(resp.content)
            samples.append(ms)
            client_cpu.append(cpu_ms)
    return {"forms": forms, "median_ms": median(samples), "client_cpu_median_ms": median(client_cpu),
            "response_bytes": size, "lost_no_answer_in_5s": lost,
            "not_200": wrong_status, "samples_ms": [round(x, 2) for x in samples]}
