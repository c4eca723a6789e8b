"""The one table the bench prints (README.md shows it): a row builder per section, then
the rows aligned as a Markdown table."""

from __future__ import annotations

from . import config as goal
from .config import EVENT_FUNCTIONS, LIST_GET_TIMEOUT, LIST_SAMPLES
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
        target = "; target ≥ 5×" if w["connections"] > 1 else ""
        figures.append(f"ours {ours['rps'] / w['rps']:.1f}× its req/s{target}, "
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


def without(m: dict) -> str:
    """What the service figure leaves out of the tree: the bench's own functions."""
    left_out = m.get("left_out") or []
    return f"with the bench's own {', '.join(left_out)} (not deployed): " if left_out else ""


def memory_rows(r: dict) -> list[list[str]]:
    idle, loaded = r["memory"]["idle"], r["memory"].get("after_loads")
    rows = [["c", "RSS lambda-emulator, idle", "", "", "", "",
             f"{mib(idle['root_rss_kib'])} just after the start, all {idle['expected_instances']} instances up; "
             f"service {mib(idle['service_rss_kib'])} over {idle['service_processes']} processes; "
             f"{without(idle)}whole tree {mib(idle['rss_kib'])} over {idle['processes']} processes (PSS {mib(idle['pss_kib'])})"]]
    if loaded:
        rows.append(["c–f", "RSS whole self-hosted tree after the loads", "", "", "", "",
                     f"service {mib(loaded['service_rss_kib'])} (sum of VmRSS) over {loaded['service_processes']} "
                     f"processes, PSS {mib(loaded['service_pss_kib'])}; {without(loaded)}whole tree "
                     f"{mib(loaded['rss_kib'])} over {loaded['processes']}; lambda-emulator "
                     f"{mib(loaded['root_rss_kib'])}; largest: {largest(loaded)}"])
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
                     f"the client's own CPU {fmt_ms(item['client_cpu_median_ms'])} per request (median); "
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
             f"{drained(ce)}"]]


def drained(c_email: dict) -> str:
    """How long the form posts' e-mails took to go out after the form rows (with the sweeps
    the bench invoked in the schedule's place), or how many had not when it stopped waiting."""
    waited, waiting = c_email.get("drain_wait_s", "?"), c_email.get("still_waiting", 0)
    sweeps = c_email.get("sweeps", 0)
    swept = f" ({sweeps} sweep{'s' if sweeps != 1 else ''} invoked by the bench, as the schedule would)" if sweeps else ""
    if waiting:
        return (f"after the form rows, {waiting:,} still waiting when the bench stopped waiting at "
                f"{waited} s{swept}")
    return f"after the form rows the outbox was empty within {waited} s{swept}"


def argon2_rows(r: dict) -> list[list[str]]:
    g = r["argon2"]
    return [["g", "argon2 hash (release)", "", fmt_ms(g["median_ms"]), "", "",
             f"p90 {fmt_ms(g['p90_ms'])}; {g['params']}; n={g['n']} after {g['warm_ups']} warm-ups"]]


def verdict(value, target: float, at_most: bool) -> str:
    if value is None:
        return "not measured"
    return "met" if (value <= target if at_most else value >= target) else "missed"


def overall(*verdicts: str) -> str:
    if "not measured" in verdicts:
        return "not measured"
    return "met" if all(v == "met" for v in verdicts) else "missed"


def warm_figures(r: dict, key: str, connections: int) -> dict | None:
    """The direct (emulator, not nginx) row of `key` at `connections`, if the run has it."""
    return next((w for w in r.get("warm") or [] if w["key"] == key and w["via"] == "emulator"
                 and w["connections"] == connections), None)


def goal_rows(r: dict) -> list[list[str]]:
    """Issue 13's goals, against config.py's figures of the old service: the measured figure,
    the target beside it, met / missed ("not measured" when the run lacks the figure)."""
    rows = []

    def warm_goal(key: str, label: str, rps_min: float, p99_max: float, old: str, no_errors: bool = False):
        w = warm_figures(r, key, 16)
        rps, p99 = (w["rps"], w["p99_ms"]) if w else (None, None)
        checks = [verdict(rps, rps_min, False), verdict(p99, p99_max, True)]
        target = f"target req/s ≥ {fmt_rate(rps_min)}, p99 ≤ {fmt_ms(p99_max)}"
        if no_errors:
            errors = (w["timeouts"] + w["socket_errors"] + w["non_2xx"]) if w else None
            checks.append("not measured" if errors is None else "met" if errors == 0 else "missed")
            target += f", 0 errors (got {'-' if errors is None else errors})"
        rows.append(["goal", f"{label} c16", fmt_rate(rps), "", fmt_ms(p99), "",
                     f"{overall(*checks)}: {target} ({old}); req/s {checks[0]}, p99 {checks[1]}"
                     + (f", errors {checks[2]}" if no_errors else "")])

    warm_goal("whoami", "GET /api/v1/auth/login (whoami, root)", goal.GOAL_WHOAMI_RPS, goal.GOAL_WHOAMI_P99_MS,
              f"old service {goal.OLD_WHOAMI_C16_RPS} req/s × 10, p99 {fmt_ms(goal.OLD_WHOAMI_C16_P99_MS)} ÷ 10")
    warm_goal("list100", "GET /api/v1/form (100 forms)", goal.GOAL_LIST100_RPS, goal.GOAL_LIST100_P99_MS,
              f"old service {goal.OLD_LIST100_C16_RPS} req/s × 10", no_errors=True)
    warm_goal("login_post", "POST /api/v1/auth/login (200)", goal.GOAL_LOGIN_RPS, goal.GOAL_LOGIN_P99_MS,
              f"old service {goal.OLD_LOGIN_C16_RPS} req/s × 1.5, p99 {fmt_ms(goal.OLD_LOGIN_C16_P99_MS)} ÷ 2")

    colds = r.get("cold_starts") or []
    worst = max(colds, key=lambda c: c["median_ms"]) if colds else None
    rows.append(["goal", "cold start, every function (worst median)", "",
                 fmt_ms(worst["median_ms"]) if worst else "-", "", "",
                 f"{verdict(worst and worst['median_ms'], goal.GOAL_COLD_START_MS, True)}: target ≤ "
                 f"{fmt_ms(goal.GOAL_COLD_START_MS)}" + (f"; worst: {worst['function']} of {len(colds)}" if worst else "")])

    d = r.get("login_timing")
    ratio = d["ratio_wrong_over_unknown"] if d else None
    within = None if d is None else "met" if d["within_10_percent"] else "missed"  # section d's verdict
    rows.append(["goal", "login timing, wrong password ÷ unknown user", "", "", "", "",
                 f"{within or 'not measured'}: target within 10% (0.90–1.10)"
                 + (f"; ratio {ratio:.3f} (section d)" if d else "")])

    loaded = (r.get("memory") or {}).get("after_loads")
    tree = loaded["service_rss_kib"] / 1024 if loaded else None
    left_out = ", ".join((loaded or {}).get("left_out") or [])
    rows.append(["goal", "RSS whole self-hosted tree after the loads", "", "", "", "",
                 f"{verdict(tree, goal.GOAL_TREE_RSS_MIB, True)}: {mib(loaded['service_rss_kib']) if loaded else '-'}, "
                 f"target ≤ {goal.GOAL_TREE_RSS_MIB:.0f} MiB (sum of VmRSS: the emulator and every deployed function"
                 + (f", not the bench's {left_out}" if left_out else "") + ")"])
    login = (loaded or {}).get("by_name", {}).get("auth-login")
    login_mib = login["max_rss_kib"] / 1024 if login else None
    rows.append(["goal", "RSS auth-login after the loads (largest process)", "", "", "", "",
                 f"{verdict(login_mib, goal.GOAL_AUTH_LOGIN_RSS_MIB, True)}: "
                 f"{mib(login['max_rss_kib']) if login else '-'}, target ≤ {goal.GOAL_AUTH_LOGIN_RSS_MIB:.0f} MiB"])

    sizes = r.get("sizes") or []
    http = [s for s in sizes if s["lambda"] and s["function"] not in EVENT_FUNCTIONS]
    big = max(http, key=lambda s: s["binary_bytes"]) if http else None
    rows.append(["goal", "size, every HTTP function (worst binary)", "", "", "", "",
                 f"{verdict(big and big['binary_bytes'] / 1024 / 1024, goal.GOAL_HTTP_BINARY_MIB, True)}: "
                 + (f"{big['function']} {fmt_bytes(big['binary_bytes'])} (stripped) of {len(http)}, " if big else "")
                 + f"target ≤ {goal.GOAL_HTTP_BINARY_MIB:.0f} MiB"])
    email = next((s for s in sizes if s["function"] == "email"), None)
    rows.append(["goal", "size email", "", "", "", "",
                 f"{verdict(email and email['binary_bytes'] / 1024 / 1024, goal.GOAL_EMAIL_BINARY_MIB, True)}: "
                 + (f"{fmt_bytes(email['binary_bytes'])} (stripped), " if email else "")
                 + f"target ≤ {goal.GOAL_EMAIL_BINARY_MIB:.0f} MiB"])

    w = warm_figures(r, "list10000", 1)
    p50 = w["p50_ms"] if w else None
    rows.append(["goal", "GET /api/v1/form (10,000 forms) c1", "", fmt_ms(p50), "", "",
                 f"{verdict(p50, goal.GOAL_LIST10000_C1_P50_MS, True)}: target p50 ≤ "
                 f"{fmt_ms(goal.GOAL_LIST10000_C1_P50_MS)}"])
    e = r.get("list_growth") or {}
    sizes_e = [x["forms"] for x in e.get("sizes", [])]
    growth = e.get("ratio") if sizes_e[:1] == [100] and sizes_e[-1:] == [10_000] else None
    rows.append(["goal", "list growth 10,000 ÷ 100 forms", "", "", "", "",
                 f"{verdict(growth, goal.GOAL_LIST_GROWTH, True)}: "
                 + (f"ratio {growth:.1f}× (section e), " if growth is not None else "")
                 + f"target ≤ {goal.GOAL_LIST_GROWTH:.0f}×"])
    return rows


def markdown(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(header[i]), *(len(row[i]) for row in rows)) for i in range(len(header))]

    def line(cells):
        return "| " + " | ".join(c.rjust(widths[i]) if i in RIGHT else c.ljust(widths[i])
                                 for i, c in enumerate(cells)) + " |"

    sep = "|" + "|".join(("-" * (w + 1) + ":") if i in RIGHT else ("-" * (w + 2)) for i, w in enumerate(widths)) + "|"
    return "\n".join([line(header), sep, *(line(row) for row in rows)])


def build_table(r: dict) -> str:
    rows = [*size_rows(r), *cold_rows(r), *warm_rows(r), *memory_rows(r), *error_rows(r), *login_rows(r),
            *list_rows(r), *email_rows(r), *argon2_rows(r), *goal_rows(r)]
    return markdown(HEADER, rows)
