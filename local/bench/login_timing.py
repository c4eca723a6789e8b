"""Section d: login timing, an unknown user against a known user with a wrong password
(they must cost the same, within 10%), sequential and interleaved."""

from __future__ import annotations

import secrets

import requests

from .client import timed
from .config import HTTP_TIMEOUT, IDENTITY, LOGIN_SAMPLES
from .emulator import Emulator
from .figures import fmt_ms, median
from .runlog import anomaly, log


def login_samples(url: str, cases: dict[str, dict]) -> dict[str, list[float]]:
    """LOGIN_SAMPLES timed 401s of each case, the order of the cases alternating; anything
    but a 401 is reported and not sampled."""
    samples = {case: [] for case in cases}
    with requests.Session() as session:
        session.headers.update(IDENTITY)
        timed(session, "POST", url, json=cases["unknown_user"], timeout=HTTP_TIMEOUT)  # warm
        for i in range(LOGIN_SAMPLES):
            order = list(cases) if i % 2 == 0 else list(reversed(cases))
            for case in order:
                try:
                    ms, resp = timed(session, "POST", url, json=cases[case], timeout=HTTP_TIMEOUT)
                except requests.RequestException as e:
                    anomaly(f"login {case}: no answer ({type(e).__name__})")  # reported, not sampled
                    session.close()
                    continue
                if resp.status_code != 401:
                    anomaly(f"login {case}: expected 401, got {resp.status_code} {resp.text[:200]!r}")
                    continue
                samples[case].append(ms)
    return samples


def section_login_timing(emu: Emulator) -> dict:
    log(f"d. login timing: unknown user vs known user with a wrong password, {LOGIN_SAMPLES} each, interleaved")
    cases = {
        "unknown_user": {"username": "nobody-" + secrets.token_hex(4), "password": "wrong-password"},
        "wrong_password": {"username": "root", "password": "wrong-password"},
    }
    samples = login_samples(emu.base + "/api/v1/auth/login", cases)
    unknown, wrong = median(samples["unknown_user"]), median(samples["wrong_password"])
    ratio = wrong / unknown
    result = {
        "samples": LOGIN_SAMPLES,
        "unknown_user_median_ms": unknown,
        "wrong_password_median_ms": wrong,
        "ratio_wrong_over_unknown": ratio,
        "within_10_percent": abs(ratio - 1) <= 0.10,
        "unknown_user_ms": [round(x, 2) for x in samples["unknown_user"]],
        "wrong_password_ms": [round(x, 2) for x in samples["wrong_password"]],
    }
    log(f"   unknown {fmt_ms(unknown)}, wrong password {fmt_ms(wrong)}, ratio {ratio:.3f}")
    return result
