"""The one table the bench prints (README.md shows it): a row builder per section, then
the rows aligned as a Markdown table."""

from __future__ import annotations

from .config import LIST_GET_TIMEOUT, LIST_SAMPLES
from .figures import fmt_bytes, fmt_ms, fmt_rate, fmt_ratio, mib

HEADER = ["§", "measurement", "req/s", "p50 / median", "p99", "÷ floor", "other figures"]
RIGHT = {2, 3, 4, 5}  # the columns of figures, right-aligned
SUFFIX = {"emulator": "", "nginx": " · nginx", "cargo-lambda": " · cargo-lambda"}


def size_rows(r: dict) -> list[list[str]]:
    rows = []
    for s in r["sizes"]:
        name = s["function"] + ("" if s["lambda"] else " (self-hosted runtime)" if s["function"] == "lambda-emulator"
                                else " (CLI, not a Lambda)")
        rows.append(["a", f"size {name}", "", "", "", "",
                     f"binary {fmt_bytes(s['binary_bytes'])}, zip {fmt_bytes(s['zip_bytes'])}"])
    return rows


def cold_rows(r: dict) -> list[list[str]]:
    rows = []
    floor_cold = next((c["median_ms"] for c in r["cold_starts"] if c["function"] == "floor"), None)
    for c in r["cold_starts"]:
        ratio = c["median_ms"] / floor_cold if floor_cold else None
        rss = f"{c['peak_rss_kib'] / 1024:.1f} MiB" if c["peak_rss_kib"] else "-"
        rows.append(["b", f"cold start {c['function']}", "", fmt_ms(c["median_ms"]), "", fmt_ratio(ratio),
                     f"peak RSS {rss}; min–max {fmt_ms(c['min_ms'])}–{fmt_ms(c['max_ms'])}; "
                     f"{c['event']} → {c['status'] if c['status'] is not None else 'ok'}"])
    return rows


def comparisons(w: dict, ours: dict | None, alone: dict, hop: dict | None) -> list[str]:
    """A warm row's figures beside its own: the floor beside it, what nginx adds, how
    cargo-lambda compares, what the emulator adds to the floor function alone."""
    figures = []
    base = w["paired_floor_p50_ms"]
    if w["key"] != "floor" and base is not None:
        figures.append(f"floor beside it {fmt_ms(base)}")
    if w["via"] == "nginx" and ours and ours["p50_ms"] is not None and w["p50_ms"] is not None:
        delta = w["p50_ms"] - ours["p50_ms"]
        figures.append(f"nginx {delta:+.2f} ms at p50" if abs(delta) < 10 else f"nginx {delta:+,.0f} ms at p50")
    if w["via"] == "cargo-lambda" and ours and w["rps"] and ours["rps"] and w["p50_ms"] is not None:
        goal = "; target ≥ 5×" if w["connections"] > 1 else ""
        figures.append(f"ours {ours['rps'] / w['rps']:.1f}× its req/s{goal}, "
                       f"p50 {ours['p50_ms'] - w['p50_ms']:+.2f} ms; cargo-lambda 1.9.2, one floor process")
    if w["key"] == "floor" and w["via"] == "emulator" and w["connections"] == 1 and w["p50_ms"] is not None:
        added = w["p50_ms"] - alone["p50_ms"]
        extra = (f", of which {fmt_ms(hop['p50_ms'])} is any HTTP server's hop (wrk → nginx `return 200`)"
                 if hop and hop.get("p50_ms") is not None else "")
        figures.append(f"the emulator adds {added:+.2f} ms at p50 to the function alone{extra}; target ≤ 0.3 ms")
    if w["note"] and w["via"] == "emulator":
        figures.append(w["note"])
    return figures


def problems(w: dict) -> list[str]:
    """A warm row's errors (or "no errors"), and its runs with a connection left idle."""
    found = [f"{n} {what}" for n, what in ((w["timeouts"], "timeouts"), (w["socket_errors"], "socket errors"),
                                           (w["non_2xx"], "non-2xx"),
                                           (w["floor_errors"], "errors in the floor runs beside it")) if n]
    figures = [", ".join(found) if found else "no errors"]
    if w["idle_runs"]:
        figures.append(f"{w['idle_runs']} run(s) in which a connection sat idle > 2 × p99 (a hung request?)")
    return figures


def floor_extra_rows(alone: dict, hop: dict | None) -> list[list[str]]:
    """After the floor rows: the floor function alone and the bare HTTP hop."""
    rows = [["c", "floor function alone c1 (minimal Runtime API)", "", fmt_ms(alone["p50_ms"]),
             fmt_ms(alone["p99_ms"]), "",
             f"{alone['samples']:,} warm invocations back to back, no HTTP front: event written → "
             f"answer's first byte; statuses {alone['statuses']}"]]
    if hop:
        rows.append(["c", "bare HTTP hop c1 (nginx `return 200`)", fmt_rate(hop["rps"]),
                     fmt_ms(hop["p50_ms"]), fmt_ms(hop["p99_ms"]), "",
                     "wrk → nginx over plain HTTP, keep-alive: what any HTTP front costs the client"])
    return rows


def warm_rows(r: dict) -> list[list[str]]:
    rows = []
    direct = {(w["key"], w["connections"]): w for w in r["warm"] if w["via"] == "emulator"}
    alone, hop = r["floor_alone"], r.get("bare_hop")
    for i, w in enumerate(r["warm"]):
        base = w["paired_floor_p50_ms"]
        ratio = w["p50_ms"] / base if (base and w["p50_ms"] is not None) else None
        figures = comparisons(w, direct.get((w["key"], w["connections"])), alone, hop) + problems(w)
        rows.append(["c", f"{w['label']} c{w['connections']}{SUFFIX[w['via']]}", fmt_rate(w["rps"]),
                     fmt_ms(w["p50_ms"]), fmt_ms(w["p99_ms"]), fmt_ratio(ratio), "; ".join(figures)])
        last_floor = w["key"] == "floor" and (i + 1 == len(r["warm"]) or r["warm"][i + 1]["key"] != "floor")
        if last_floor:
            rows += floor_extra_rows(alone, hop)
    return rows


def largest(m: dict, n: int = 3) -> str:
    names = sorted(m["by_name"].items(), key=lambda kv: -kv[1]["rss_kib"])[:n]
    return ", ".join(f"{name} {v['processes']} × ≤{mib(v['max_rss_kib'])}" for name, v in names)


def memory_rows(r: dict) -> list[list[str]]:
    idle, loaded = r["memory"]["idle"], r["memory"].get("after_loads")
    rows = [["c", "RSS lambda-emulator, idle", "", "", "", "",
             f"{mib(idle['root_rss_kib'])} just after the start, all {idle['expected_instances']} instances up; "
             f"whole tree {mib(idle['rss_kib'])} over {idle['processes']} processes (PSS {mib(idle['pss_kib'])})"]]
    if loaded:
        rows.append(["c–f", "RSS whole self-hosted tree after the loads", "", "", "", "",
                     f"{mib(loaded['rss_kib'])} (sum of VmRSS) over {loaded['processes']} processes, PSS "
                     f"{mib(loaded['pss_kib'])}; lambda-emulator {mib(loaded['root_rss_kib'])}; largest: {largest(loaded)}"])
    return rows


def error_rows(r: dict) -> list[list[str]]:
    err = r["errors"]
    emu = err["emulator"]
    return [["c–f", "errors", "", "", "", "",
             f"wrk: {err['wrk_timeouts']} timeouts, {err['wrk_socket_errors']} socket errors, {err['wrk_non_2xx']} "
             f"non-2xx over {err['wrk_requests']:,} requests; other requests: {err['anomalies']} unexpected; "
             f"emulator log: {emu['status_5xx']} answers 5xx, {emu['warnings_errors']} "
             f"warnings/errors, {emu['restarts']} instance restarts; the functions logged "
             f"{emu['function_warnings_errors']} WARN/ERROR lines"
             + "".join(f", {n} × {kind}" for kind, n in sorted(
                 emu["function_warnings_errors_kinds"].items(), key=lambda kv: -kv[1])[:3])
             + (f"; the floor runs beside the rows: {err['wrk_floor_runs_errors']} errors"
                if err["wrk_floor_runs_errors"] else "")]]


def login_rows(r: dict) -> list[list[str]]:
    d = r["login_timing"]
    return [["d", "login 401, unknown user", "", fmt_ms(d["unknown_user_median_ms"]), "", "",
             f"{d['samples']} sequential, interleaved"],
            ["d", "login 401, known user + wrong password", "", fmt_ms(d["wrong_password_median_ms"]), "", "",
             f"ratio {d['ratio_wrong_over_unknown']:.3f} "
             f"({'within' if d['within_10_percent'] else 'NOT within'} 10%)"]]


def list_rows(r: dict) -> list[list[str]]:
    e = r["list_growth"]
    rows = []
    for item in e["sizes"]:
        rows.append(["e", f"GET /api/v1/form, {item['forms']:,} forms", "", fmt_ms(item["median_ms"]), "", "",
                     f"{LIST_SAMPLES} sequential; {fmt_bytes(item['response_bytes'] or 0)} body; "
                     f"no answer in {LIST_GET_TIMEOUT:.0f} s: {item['lost_no_answer_in_5s']}, "
                     f"not 200: {item['not_200']}"])
    rows.append(["e", "list growth 10,000 ÷ 100 forms", "", "", "", "", f"ratio {e['ratio']:.1f}×"])
    return rows


def email_rows(r: dict) -> list[list[str]]:
    f = r["email"]
    cpu = ""
    if f.get("email_cpu_seconds") is not None:
        cpu = (f"; CPU: email {f['email_cpu_seconds'] / f['queued'] * 1e6:,.0f} µs/msg "
               f"({f['email_cpu_share'] * 100:.0f}% of a core), sink {f['sink_cpu_share'] * 100:.0f}%")
    before = f["before_f"]
    ce = r.get("c_email", {})
    return [["f", f"e-mail: {f['queued']:,} queued → SMTP sink", fmt_rate(f["messages_per_second"]), "", "", "",
             f"msg/s; {f['seconds']:.1f} s over {f['invocations']} invocations; sink got "
             f"{f['sink_received']:,} ({'exactly' if f['exact'] else 'NOT exactly'} {f['queued']:,}); "
             f"retrying {f['retrying']}, dead {f['dead']}{cpu}"],
            ["f", "e-mail after each commit (c's form posts)", "", "", "", "",
             f"the sink got {before['sink_received_before_f']:,} before f, from `email` invoked by the "
             f"emulator after each commit (no poller); outbox then {before['outbox_status_counts']}; "
             f"after the form rows the outbox was empty within {ce.get('drain_wait_s', '?')} s"]]


def argon2_rows(r: dict) -> list[list[str]]:
    g = r["argon2"]
    return [["g", "argon2 hash (release)", "", fmt_ms(g["median_ms"]), "", "",
             f"p90 {fmt_ms(g['p90_ms'])}; {g['params']}; n={g['n']} after {g['warm_ups']} warm-ups"]]


def markdown(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(c.rjust(widths[i]) if i in RIGHT else c.ljust(widths[i])
                                 for i, c in enumerate(cells)) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in RIGHT else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep, *(line(row) for row in rows)])


def build_table(r: dict) -> str:
    rows = [*size_rows(r), *cold_rows(r), *warm_rows(r), *memory_rows(r), *error_rows(r), *login_rows(r),
            *list_rows(r), *email_rows(r), *argon2_rows(r)]
    return markdown(HEADER, rows)
