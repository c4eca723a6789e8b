"""The notes under the table: when and where it ran, the configuration of each section,
how each figure is made, how long the sections took."""

from __future__ import annotations

from .config import (ALONE_SAMPLES, ALONE_WARMUP, EMAIL_DRAIN_TIMEOUT, EMAIL_SCHEDULE_SECONDS, FLOOR_SECONDS, IDLE_SETTLE, RATELIMIT,
                     WRK_LOGIN_SECONDS, WRK_RUNS, WRK_SECONDS, WRK_TIMEOUT, WRK_WARMUP)


def notes(r: dict) -> str:
    m = r["meta"]
    redis = r.get("redis", {})
    sections = ", ".join(f"{k} {v:.0f} s" for k, v in m.get("section_seconds", {}).items())
    return "\n".join([
        f"BriefThreat `make bench`, {m['date']} on {m['host']} ({m['cpus']} CPUs, load {m['load_before']} before, "
        f"{m['load_after']} after); cargo-lambda {m['cargo_lambda']}, {m['wrk']}, nginx {m.get('nginx', '?')}; "
        f"MariaDB + Redis from local/harness.py (MariaDB without fsync per commit).",
        f"Production code path: FLASK_ENV=production, REDIS_URL set, RATELIMIT_DEFAULT={RATELIMIT} (every "
        f"rate-limited request pays its Redis check, none is refused: Redis ran the check "
        f"{redis.get('rate_limit_scripts_run', '?')} times for the {redis.get('wrk_requests_rate_limited_rows', '?')} "
        f"wrk requests of the limited rows, plus warm-ups), production secrets, TRUSTED_PROXIES=127.0.0.1.",
        f"c: `{m.get('emulator_command', 'lambda-emulator')}` (local/lambda-emulator): {m.get('instances', '?')} "
        f"instance(s) of each HTTP function, each serving up to {m.get('concurrency', '?')} requests at once "
        f"(its defaults, as `make serve` and compose run it; one of `email`, `cleanup`, one request at a time). "
        f"EMAIL_SCHEDULE_SECONDS="
        f"{EMAIL_SCHEDULE_SECONDS}: `email` runs only when a commit or the bench invokes it. wrk -t1 -c1 / -t2 "
        f"-c16 --timeout {WRK_TIMEOUT}, {WRK_WARMUP} s warm-up then median of {WRK_RUNS} runs of {WRK_SECONDS} s "
        f"({WRK_LOGIN_SECONDS} s for login), the fronts' runs taking turns. `· nginx`: the same load over HTTPS "
        f"(keep-alive) through nginx {m.get('nginx', '?')} with local/nginx/briefthreat.conf.template (1 worker, "
        f"self-signed P-256 certificate) in front of the same emulator. `· cargo-lambda`: the floor through "
        f"`cargo lambda watch --only-lambda-apis` (cargo-lambda {m['cargo_lambda']}, the runtime this one "
        f"replaced) with one release `floor` process started against its Runtime API, as "
        f"local/serve_functions.py ran it. The floor function alone: one `floor` process against a minimal "
        f"Runtime API on raw sockets in the bench (event written → first byte of its answer, {ALONE_SAMPLES:,} "
        f"invocations after {ALONE_WARMUP} warm-ups); the emulator adds = floor c1 p50 − that p50 (so it "
        f"includes wrk's own hop, shown by the bare-hop row). ÷ floor = p50 / p50 of GET /bench/floor (a "
        f"do-nothing lambda_http function under the same emulator) at the same connection count, the same way "
        f"(direct or through nginx), in a {FLOOR_SECONDS} s run right after each run of the row (the median of "
        f"those: \"floor beside it\"); the floor rows are its own longer runs. b: median / floor's median. "
        f"Errors are counted, never retried: wrk's timeouts, socket errors and non-2xx per row (the floor runs "
        f"beside a row included), every other request that got no answer or an unexpected status, and the "
        f"emulator's log (answers of 5xx, warnings and errors, instance restarts). RSS: sum of VmRSS (and PSS) "
        f"over the emulator and every process below it, idle {IDLE_SETTLE:.0f} s after the last instance came "
        f"up, and after the loads of c–f.",
        f"POST /api/v1/form: each commit invokes `email` (Event, through the emulator's Invoke API, as in AWS), "
        f"which sends the e-mail while the rows run, to an SMTP sink in the bench's own process that only counts "
        f"them during c; before the next row the bench waits until the outbox is empty, invoking `email` "
        f"in its schedule's place when nothing is sending (an invocation sends for at most 20 s), at most "
        f"{EMAIL_DRAIN_TIMEOUT:.0f} s (row f says how many were still waiting). The bench process used "
        f"{r.get('bench_process_cpu_c_s', '?')} s of CPU during c and e.",
        "f: the e-mails are queued by SQL, so no commit invokes `email`, and its schedule is an hour away: the "
        "bench's own Invokes (RequestResponse) drain the queue. They go to an aiosmtpd sink in the benchmark's own "
        "Python process, which parses every message: at these rates the sink, not the `email` function, is the "
        "bottleneck (see the CPU shares).",
        f"Total {m['total_seconds']:.0f} s after the release build ({sections})."
        + (f" WARNING: {', '.join(m['binaries_changed_during_run'])} changed on disk during the run (a build "
           f"elsewhere): the figures mix builds." if m.get("binaries_changed_during_run") else ""),
    ])
