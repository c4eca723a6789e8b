"""What the run starts from: the checks before anything runs, the facts about the machine
and the tools (the table's notes), the bench database migrated, and the one configuration
every function runs with (the production code path)."""

from __future__ import annotations

import datetime as dt
import os
import platform
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

from .config import (CARGO_LAMBDA, COLD_RUNS, EMAILS, EMULATOR_BINARY, LIST_SAMPLES, LOGIN_SAMPLES, RATELIMIT,
                     RELEASE, ROOT, ROOT_PASSWORD, WRK_LOGIN_SECONDS, WRK_RUNS, WRK_SECONDS,
                     WRK_TIMEOUT, WRK_WARMUP)
from conftest import SHIELDED_KEYS  # the keys the tests blank too (tests/ on sys.path: __init__.py)

from .runlog import BenchError, log
from .workspace import tool_version


def preflight() -> tuple[str, str] | None:
    """(the harness's MariaDB admin URL, its Redis URL); None, said on stderr, when the run
    cannot start (not under local/harness.py, wrk or a release binary missing)."""
    admin_url = os.environ.get("TEST_MYSQL_ADMIN_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if not admin_url or not redis_url:
        print("TEST_MYSQL_ADMIN_URL / TEST_REDIS_URL not set: run under local/harness.py (make bench does)",
              file=sys.stderr)
        return None
    if not shutil.which("wrk"):
        print("wrk not found: apt-get install wrk (make bench does)", file=sys.stderr)
        return None
    for path in (CARGO_LAMBDA, RELEASE / "migrate", EMULATOR_BINARY, RELEASE / "floor"):
        if not path.exists():
            print(f"{path} missing (make bench builds it)", file=sys.stderr)
            return None
    return admin_url, redis_url


def run_meta() -> dict:
    other_ci = subprocess.run(["pgrep", "-f", "/tmp/fresh"], capture_output=True, text=True).stdout.split()
    if other_ci:
        log(f"note: other work is running (pgrep -f /tmp/fresh: {len(other_ci)} processes): figures will be noisy")
    return {
        "date": dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "host": platform.node(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "other_work_running_at_start": bool(other_ci),
        "cargo_lambda": (tool_version([str(CARGO_LAMBDA), "lambda", "--version"]).split() + ["?", "?"])[1],
        "wrk": tool_version(["wrk", "--version"]).split(" Copyright")[0],
        "settings": {
            "wrk_seconds": WRK_SECONDS, "wrk_warmup": WRK_WARMUP, "wrk_runs": WRK_RUNS,
            "wrk_login_seconds": WRK_LOGIN_SECONDS, "wrk_timeout": WRK_TIMEOUT, "cold_runs": COLD_RUNS,
            "emails": EMAILS, "login_samples": LOGIN_SAMPLES, "list_samples": LIST_SAMPLES,
        },
    }


def bench_env(db_url: str, redis_url: str, port: int, data_dir: Path, smtp_port: int) -> dict:
    env = dict(os.environ)
    env.update({key: "" for key in SHIELDED_KEYS})
    env.update(
        DATABASE_URL=db_url,
        # The production code path: rate limits in Redis on every limited request, at a
        # limit no load generator here reaches; real secrets and hosts, as production
        # requires them. nginx (127.0.0.1) is a trusted proxy, as in docker-compose.yml.
        FLASK_ENV="production",
        REDIS_URL=redis_url,
        RATELIMIT_DEFAULT=RATELIMIT,
        TRUSTED_PROXIES="127.0.0.1",
        FLASK_SECRET="bench-flask-secret-" + secrets.token_hex(16),
        JWT_SECRET="bench-jwt-secret-" + secrets.token_hex(16),
        JWT_ACCESS_EXPIRY="86400",
        JWT_REFRESH_EXPIRY="86400",
        PUBLIC_HOST=f"127.0.0.1:{port}",
        ROOT_EMAIL="root@example.test",
        ROOT_PASSWORD=ROOT_PASSWORD,
        EMAIL_NAME="BriefThreat",
        EMAIL_FROM="noreply@example.test",
        DATA_DIR=str(data_dir),
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=str(smtp_port),
        SMTP_SECURITY="none",
        RUST_LOG="info",
    )
    return env


def migrate_database(database: str, env: dict) -> None:
    """The bench database (env's DATABASE_URL), migrated by the release `migrate` with the
    run's configuration."""
    log(f"migrating {database} with target/release/migrate")
    done = subprocess.run([str(RELEASE / "migrate")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    if done.returncode != 0:
        raise BenchError(f"migrate exited {done.returncode}:\n{done.stdout}{done.stderr}")
