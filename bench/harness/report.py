"""The results table, the ratios to the best peer and the targets of the issue."""

from __future__ import annotations

import os
from typing import Any

PEERS = ("celery", "dramatiq", "rq", "arq", "taskiq", "huey")
XQUEUE = ("xqueue-embedded", "xqueue-redis", "xqueue-kafka")
FULL_RECORD = {"xqueue-embedded", "xqueue-redis", "xqueue-kafka", "ceiling"}


def _get(result: dict[str, Any], *path: str) -> float | None:
    value: Any = result
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return float(value) if isinstance(value, int | float) else None


def _rate(result: dict[str, Any], key: str) -> str:
    value = _get(result, key, "rate")
    if value is None:
        if key in result.get("errors", {}):
            return "error"
        return "too fast" if key in result else "-"
    partial = "" if result[key].get("complete", True) else "*"
    return f"{value:,.0f}{partial}"


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _busy(result: dict[str, Any], key: str) -> str:
    """How busy the whole machine was during a drain, e.g. '187%' (of 200% on 2 cores)."""
    value = _get(result, key, "cpu", "busy_pct")
    return "-" if value is None else f"{value:.0f}%"


def table(results: list[dict[str, Any]]) -> str:
    """One row per system, its configuration (per workload) beside it."""
    head = (
        f"{'system':<16} {'enqueue/s':>10} {'drain/s':>9} {'cpu':>5} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'10ms-io/s':>10} {'cpu':>5} {'RSS MB':>10} {'record':>7}  configuration"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        rss = _get(r, "rss", "bytes")
        procs = r.get("rss", {}).get("processes")
        rss_text = "-" if rss is None else f"{rss / 2**20:.0f} ({procs}p)"
        config = r.get("config", {})
        record = "full" if r["system"] in FULL_RECORD else "partial"
        lines.append(
            f"{r['system']:<16} {_num(_get(r, 'noop', 'enqueue_rate'), ',.0f'):>10} "
            f"{_rate(r, 'noop'):>9} {_busy(r, 'noop'):>5} "
            f"{_num(_get(r, 'latency', 'p50'), '.2f'):>8} "
            f"{_num(_get(r, 'latency', 'p90'), '.2f'):>8} "
            f"{_num(_get(r, 'latency', 'p99'), '.2f'):>8} {_rate(r, 'sleep'):>10} "
            f"{_busy(r, 'sleep'):>5} {rss_text:>10} {record:>7}  (a,d) {config.get('noop', '')}"
        )
        pad = " " * (len(head) - len("configuration"))
        for key, label in (("latency", "(b)"), ("sleep", "(c)"), ("noop_single", "(a1)")):
            if key in config and (key != "noop_single" or "noop_single" in r):
                lines.append(f"{pad}{label} {config[key]}")
        if "noop_single" in r:
            lines.append(
                f"{pad}(a1) drain with 1 process: {_rate(r, 'noop_single')}/s, "
                f"machine CPU {_busy(r, 'noop_single')}"
            )
        for key, error in r.get("errors", {}).items():
            lines.append(f"{pad}ERROR in {key}: {error}")
    cores = os.cpu_count() or 1
    lines += [
        "",
        f"cpu: how busy the whole machine was during the drain beside it, all {cores} cores",
        f"together (max {100 * cores}%; workers, broker, this harness and anything else running;",
        "the workers' own share is cpu.workers_pct in the JSON).",
        "RSS: VmRSS summed over the worker process tree after (a) (per process in the JSON).",
        "record: 'full' = xqueue keeps every task's whole lifecycle in the store (record with",
        "all fields, status indexes, lease, stats, one event per transition); peers keep less",
        "(see each row's notes in the JSON). * = partial drain within the time budget.",
        "drain/s counts from the first finished task to the last (worker start-up excluded);",
        "(b) p50/p90/p99 of sequential submit->done round trips on idle, warmed-up workers.",
    ]
    return "\n".join(lines)


def _best(results: list[dict[str, Any]], path: tuple[str, ...], low: bool) -> tuple[str, float]:
    found = [(r["system"], _get(r, *path)) for r in results if r["system"] in PEERS]
    found = [(s, v) for s, v in found if v is not None and v > 0]
    if not found:
        return "", 0.0
    pick = min if low else max
    system, value = pick(found, key=lambda sv: sv[1])
    return system, float(value)  # type: ignore[arg-type]


def ratios(results: list[dict[str, Any]], ceiling: dict[str, Any] | None) -> dict[str, Any]:
    """xqueue against the best peer of this run, with the targets of the issue."""
    out: dict[str, Any] = {}
    checks = [
        ("enqueue", ("noop", "enqueue_rate"), False, 3.0, "enqueue >= 3x best peer"),
        ("drain", ("noop", "rate"), False, 5.0, "drain >= 5x best peer"),
        ("p50", ("latency", "p50"), True, 1.0, "p50 <= best peer p50"),
        ("p99", ("latency", "p99"), True, 1.0, "p99 <= best peer p99"),
        ("rss", ("rss", "bytes"), True, 1.0, "worker RSS <= leanest peer"),
        ("io", ("sleep", "rate"), False, None, "10 ms I/O tasks (no target)"),
    ]
    for r in results:
        if r["system"] not in XQUEUE:
            continue
        entry: dict[str, Any] = {}
        for name, path, low, target, text in checks:
            peer, best = _best(results, path, low)
            mine = _get(r, *path)
            if not peer or mine is None or mine <= 0:
                continue
            ratio = mine / best
            ok = None if target is None else (ratio <= target if low else ratio >= target)
            entry[name] = {
                "xqueue": mine,
                "best_peer": peer,
                "peer": best,
                "ratio": ratio,
                "target": text,
                "met": ok,
            }
        single = _get(r, "noop_single", "rate")
        double = _get(r, "noop", "rate")
        if single and double:
            ratio = double / single
            entry["scale_2_vs_1"] = {
                "ratio": ratio,
                "target": "2 processes >= 1.8x one",
                "met": ratio >= 1.8,
            }
            working = (r.get("noop") or {}).get("all_working")
            if working and working.get("workers") == 2:
                entry["scale_2_vs_1_working"] = {
                    "ratio": working["rate"] / single,
                    "rate": working["rate"],
                    "from_s": working["from_s"],
                }
        biggest = _largest_process(r)
        peers = [(q["system"], _largest_process(q)) for q in results if q["system"] not in XQUEUE]
        measured = [(name, size) for name, size in peers if size]
        if biggest and measured:
            peer, size = min(measured, key=lambda ps: ps[1])
            entry["rss_largest_process"] = {"xqueue": biggest, "best_peer": peer, "peer": size}
        if ceiling and double:
            entry["ceiling_share"] = {"ratio": double / ceiling["rate"], "ceiling": ceiling["rate"]}
        out[r["system"]] = entry
    return out


def _largest_process(result: dict[str, Any]) -> int | None:
    """RSS of the biggest process of a system's worker tree (bytes): for xqueue a worker
    process, the supervisor being smaller; None when not measured."""
    sizes = [p["rss"] for p in (result.get("rss") or {}).get("per_process", []) if p.get("rss")]
    return max(sizes) if sizes else None


def ratio_text(rat: dict[str, Any], ceiling: dict[str, Any] | None) -> str:
    lines = ["Ratios to the best peer of this run (same machine, same workloads):"]
    if not rat:
        lines.append("  (no xqueue configuration or no peer measured)")
    for system, entry in rat.items():
        lines.append(f"  {system}:")
        for name, e in entry.items():
            if name == "ceiling_share":
                lines.append(
                    f"    drain is {e['ratio']:.1%} of the framework-free ceiling "
                    f"({e['ceiling']:,.0f}/s)"
                )
                continue
            if name == "scale_2_vs_1":
                mark = "met" if e["met"] else "NOT met"
                lines.append(
                    f"    drain 2 processes / 1 process = {e['ratio']:.2f}x [{e['target']}: {mark}]"
                )
                continue
            if name == "rss_largest_process":
                lines.append(
                    f"    largest process of the worker tree: {e['xqueue'] / 2**20:,.1f} MB vs "
                    f"{e['best_peer']} {e['peer'] / 2**20:,.1f} MB (the leanest peer's; no target: "
                    "where the tree's RSS is)"
                )
                continue
            if name == "scale_2_vs_1_working":
                lines.append(
                    f"    drain 2 processes / 1 process = {e['ratio']:.2f}x counted from when "
                    f"both were taking work ({e['from_s']:.2f} s after the first completion; "
                    f"{e['rate']:,.0f}/s)"
                )
                continue
            mark = "" if e["met"] is None else (" met" if e["met"] else " NOT met")
            scale, unit = (2**20, " MB") if name == "rss" else (1, "")
            lines.append(
                f"    {name:<8} {e['ratio']:6.2f}x  (xqueue {e['xqueue'] / scale:,.2f}{unit} vs "
                f"{e['best_peer']} {e['peer'] / scale:,.2f}{unit})  [{e['target']}:{mark}]"
            )
    if ceiling:
        lines.append(
            f"  ceiling loop (one process, Lua claim x100 + finish x100 with stats and events): "
            f"enqueue {ceiling['enqueue_rate']:,.0f}/s, drain {ceiling['rate']:,.0f}/s"
        )
    return "\n".join(lines)


def costs_table(results: list[dict[str, Any]], ceiling: dict[str, Any] | None) -> str:
    """Per drained no-op task in (a): CPU of the workers and of Redis, Redis commands, bytes."""
    head = (
        f"{'system':<16} {'worker CPU us':>14} {'Redis CPU us':>13} {'Redis busy':>11} "
        f"{'Redis cmds':>11} {'bytes in':>9} {'bytes out':>10}"
    )
    lines = [
        "What one drained no-op task of (a) costs (first to last completion; Redis commands",
        "include those inside Lua scripts and this harness's polling; Tansu's CPU not counted):",
        head,
        "-" * len(head),
    ]
    rows = [
        (r["system"], r.get("noop", {}).get("costs") or {}, r.get("noop", {}).get("rate"))
        for r in results
    ]
    if ceiling:
        rows.append(("ceiling", ceiling.get("costs") or {}, ceiling.get("rate")))
    for system, c, rate in rows:
        if not c:
            continue
        # Redis runs commands on one thread: the share of one core it was busy
        redis_us = c.get("redis_cpu_us")
        busy = f"{redis_us * rate / 1e4:.0f}%" if redis_us and rate else "-"
        lines.append(
            f"{system:<16} {_num(c.get('worker_cpu_us'), ',.0f'):>14} "
            f"{_num(redis_us, ',.0f'):>13} {busy:>11} {_num(c.get('redis_commands'), '.1f'):>11} "
            f"{_num(c.get('bytes_in'), ',.0f'):>9} {_num(c.get('bytes_out'), ',.0f'):>10}"
        )
    lines.append(
        "Redis busy: Redis CPU per task x drain rate, as a share of the one core Redis runs on."
    )
    return "\n".join(lines)
