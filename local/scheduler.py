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

def dotenv(path=".env"):
    """`.env` values for keys the environment lacks (the environment wins, as in the functions)."""
    values = {}
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line.startswith("export "):
                    line = line[7:]
                if not line or line.startswith("#") or "=" not in line:
                    continue
                key, value = line.split("=", 1)
                value = value.strip()
                if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                    value = value[1:-1]
                else:
                    value = value.split(" #", 1)[0].strip()
                values[key.strip()] = value
    except OSError:
        pass
    return values


CONFIG = {**dotenv(), **{k: v for k, v in os.environ.items() if v.strip()}}
BASE = CONFIG.get("SCHEDULER_TARGET", "http://127.0.0.1:9000")
EMAIL_EVERY = float(CONFIG.get("EMAIL_POLL_INTERVAL", "0.2"))
CLEANUP_EVERY = float(CONFIG.get("CLEANUP_INTERVAL", "3600"))
PRODUCTION = CONFIG.get("FLASK_ENV") == "production"



def stop(*_):
    # Leave at once, even from inside a pending invoke: the next run picks up any work.
    raise SystemExit(0)


def invoke(function, payload=None, timeout=60):
    request = urllib.request.Request(
        f"{BASE}/2015-03-31/functions/{function}/invocations",
        data=json.dumps(payload or {}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


def wait_until_serving():
    """The emulator compiles nothing (make run builds first) but takes a moment to listen."""
    while True:
        try:
            urllib.request.urlopen(f"{BASE}/health", timeout=30).read()
            return
        except urllib.error.HTTPError:
            return  # answering, if unhappy: /health reports problems itself
        except (urllib.error.URLError, OSError):
            time.sleep(0.2)


def main():
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    wait_until_serving()
    next_cleanup = time.monotonic() + (CLEANUP_EVERY if PRODUCTION else float("inf"))
    failures = 0
    while True:
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
