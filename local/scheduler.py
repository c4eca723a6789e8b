#!/usr/bin/env python3
"""Local stand-in for the AWS schedules: invokes the non-HTTP functions through the Lambda
emulator (`cargo lambda watch`, or any runtime API emulator that serves the Invoke API).

- `email` every EMAIL_POLL_INTERVAL seconds (default 0.2): an e-mail reaches the SMTP server
  within half a second of the API response that queued it. An idle poll is one indexed
  query on the outbox.
- `cleanup` every CLEANUP_INTERVAL seconds, only when FLASK_ENV=production (contract
  section 8).

Standard library only. Stops on SIGTERM/SIGINT.
"""
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

BASE = os.environ.get("SCHEDULER_TARGET", "http://127.0.0.1:9000")
EMAIL_EVERY = float(os.environ.get("EMAIL_POLL_INTERVAL", "0.2"))
CLEANUP_EVERY = float(os.environ.get("CLEANUP_INTERVAL", "3600"))
PRODUCTION = os.environ.get("FLASK_ENV") == "production"

running = True


def stop(*_):
    global running
    running = False


def invoke(function, payload=None, timeout=60):
    request = urllib.request.Request(
        f"{BASE}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(payload or {}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def main():
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    next_cleanup = time.monotonic() + (CLEANUP_EVERY if PRODUCTION else float("inf"))
    failures = 0
    while running:
        started = time.monotonic()
        try:
            report = invoke("email")
            if report and any(report.get(k) for k in ("delivered", "retrying", "dead")):
                print(f"scheduler: email {report}", flush=True)
            if started >= next_cleanup:
                print(f"scheduler: cleanup {invoke('cleanup')}", flush=True)
                next_cleanup = started + CLEANUP_EVERY
            failures = 0
        except (urllib.error.URLError, OSError, ValueError) as error:
            failures += 1
            if failures in (1, 10) or failures % 100 == 0:
                print(f"scheduler: invoke failed ({error}); retrying", file=sys.stderr, flush=True)
            time.sleep(min(5.0, 0.2 * failures))
        time.sleep(max(0.0, EMAIL_EVERY - (time.monotonic() - started)))


if __name__ == "__main__":
    main()
