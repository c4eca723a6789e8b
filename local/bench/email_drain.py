"""Section f: e-mail throughput. EMAILS messages queued by SQL (no commit of an API
function, so nothing invokes `email` by itself; its schedule is an hour away), drained by
invoking `email` through the emulator's Invoke API, over SMTP to the sink in this process,
which parses every message; with the CPU time the `email` instance and the sink spent."""

from __future__ import annotations

import secrets
import time

from .config import EMAILS
from .emulator import Emulator
from .figures import fmt_rate
from .procs import cpu_seconds, instance_pid
from .runlog import BenchError, log
from .seed import queue_emails
from .stores import outbox_status_counts, sql


def before_f(emu: Emulator, db_url: str, sink) -> dict:
    """What section c's form posts left: warms `email` (the instance up, the SMTP transport
    built; it runs after any Event invocation that c's commits queued, so their mail is out
    by then), records what the sink got and the outbox's state, then empties the outbox and
    has the sink parse again."""
    emu.invoke("email")
    sink.parse = True
    triggered = {
        "sink_received_before_f": sink.received(),
        "outbox_status_counts": outbox_status_counts(db_url),
    }
    log(f"   before f: the sink got {triggered['sink_received_before_f']} e-mails (section c's form posts, "
        f"delivered by `email` invoked after each commit); outbox {triggered['outbox_status_counts']}")
    sql(db_url, "DELETE FROM email_outbox")
    return triggered


def drain(emu: Emulator) -> tuple[list, float]:
    """Invokes `email` until it delivers nothing more: (its reports, the seconds from the
    first invocation to the end of the last one that delivered)."""
    reports = []
    started = time.monotonic()
    finished = started
    while True:
        if len(reports) > 200 or time.monotonic() - started > 600:
            raise BenchError(f"e-mail drain did not finish: {reports[-3:]}")
        report = emu.invoke("email", timeout=120)
        reports.append(report)
        if not report or not report.get("delivered"):
            break
        finished = time.monotonic()
        log(f"   invoke {len(reports)}: {report}")
    return reports, finished - started


def sink_messages_since(sink, before: int) -> list:
    """The messages the sink parsed after the first `before`, once EMAILS have arrived (at
    most 10 s)."""
    deadline = time.monotonic() + 10
    while len(sink.messages()) - before < EMAILS and time.monotonic() < deadline:
        time.sleep(0.1)
    return sink.messages()[before:]


def section_email(emu: Emulator, db_url: str, sink) -> dict:
    log(f"f. e-mail throughput: {EMAILS} messages through `email` to the SMTP sink")
    triggered = before_f(emu, db_url, sink)
    email_pid = instance_pid(emu.proc.pid, "email")
    before = len(sink.messages())
    marker = f"bench-{secrets.token_hex(4)}"
    queue_emails(db_url, marker)
    email_cpu_before = cpu_seconds(email_pid) if email_pid else None
    own_cpu_before = time.process_time()  # this process: the sink's threads, all but idle otherwise
    reports, seconds = drain(emu)
    email_cpu_after = cpu_seconds(email_pid) if email_pid else None
    own_cpu = time.process_time() - own_cpu_before
    email_cpu = (email_cpu_after - email_cpu_before
                 if email_cpu_before is not None and email_cpu_after is not None else None)
    received = sink_messages_since(sink, before)
    ours = sum(1 for m in received if str(m.message["Subject"] or "").startswith(marker))
    result = {
        "queued": EMAILS,
        "delivered_reported": sum(r.get("delivered", 0) for r in reports if r),
        "sink_received": len(received),
        "sink_received_ours": ours,
        "exact": len(received) == EMAILS and ours == EMAILS,
        "outbox_status_counts": outbox_status_counts(db_url),
        "invocations": len(reports),
        "seconds": seconds,
        "messages_per_second": EMAILS / seconds if seconds > 0 else None,
        "retrying": sum(r.get("retrying", 0) for r in reports if r),
        "dead": sum(r.get("dead", 0) for r in reports if r),
        "email_cpu_seconds": email_cpu,
        "sink_cpu_seconds": own_cpu,
        "email_cpu_share": email_cpu / seconds if email_cpu is not None and seconds > 0 else None,
        "sink_cpu_share": own_cpu / seconds if seconds > 0 else None,
        "before_f": triggered,
    }
    log(f"   {result['delivered_reported']} delivered in {seconds:.1f}s ({fmt_rate(result['messages_per_second'])}/s); "
        f"sink got {len(received)} (ours {ours}); CPU: email {email_cpu if email_cpu is not None else '?'} s, "
        f"sink (this process) {own_cpu:.1f} s")
    return result
