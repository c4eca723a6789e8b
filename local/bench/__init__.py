"""`make bench`: run it from the repository root as `python -m local.bench` under
local/harness.py (__main__.py tells the whole story and runs the sections in order).

One job a module:

  config        paths, the BENCH_* settings, the run's fixed figures and configuration
  runlog        the log on stderr, section wall times, unexpected answers, BenchError
  figures       medians and the formats of the figures
  workspace     the workspace's binaries and routes, their stamps, tools' versions
  environment   checks before the run, facts about the machine, the functions' configuration,
                the bench database migrated (conftest.py creates and drops it)
  stores        SQL on the bench database, the outbox's state, Redis's rate-limit count
  seed          the bench database's content: a submitter, forms, queued e-mails
  procs         /proc: RSS, PSS, CPU time of a process or a process tree
  client        requests outside wrk: checked (unexpected answers recorded) and timed
  wrk           wrk runs and its output parsed
  runtime_api   a function without Lambda: minimal Runtime API, API Gateway event, its process
  emulator      the project's emulator: started, ready, its memory, Invoke API and log
  fronts        nginx in front of the emulator, cargo-lambda with one `floor` process
  sizes         section a: binary and zip sizes
  cold_start    section b: cold starts against the minimal Runtime API
  warm          one warm row of section c through every front, with the paired floor runs
  floor_alone   the floor function alone against a raw-socket Runtime API (section c)
  section_c     section c (and e beside it): the fronts started, every warm row in order
  list_timing   section e: sequential GET /api/v1/form at one list size
  login_timing  section d: unknown user vs wrong password
  email_drain   section f: queued e-mails drained through `email` to the SMTP sink
  argon2        section g: the argon2 example
  table         the table: rows per section, then the goal rows (met / missed), aligned as Markdown
  notes         the notes under the table
  compare       `make bench-compare`: an earlier revision's binaries beside these (its own entry point)

Importing the package puts tests/ (conftest.py's process and database helpers,
smtp_sink.py) and local/ (render_nginx.py) on sys.path, for its modules to import.
"""

import sys

from .config import ROOT

for _helpers in (ROOT / "tests", ROOT / "local"):
    if str(_helpers) not in sys.path:
        sys.path.insert(0, str(_helpers))
