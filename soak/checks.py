"""The soak's invariants, computed from the run record, the event log and final tasks.

Inputs:

- ``records``: the lines of the record file in file order (the real order):
  ``start``/``end`` of every handler run, ``killed`` (a worker was SIGKILLed:
  its open runs stopped then), ``limit`` (phase ``begin``/``end`` around a
  change of a type's limit).
- ``terminal_events``: task id -> terminal statuses seen in the store's event log.
- ``finals``: task id -> the task as the store reports it after the run.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Invariant:
    name: str
    value: Any
    required: str
    ok: bool | None  # None: informational
    detail: str = ""


@dataclass
class Report:
    invariants: list[Invariant] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(i.ok is not False for i in self.invariants)

    def add(self, name: str, value: Any, required: str, ok: bool | None, detail: str = "") -> None:
        self.invariants.append(Invariant(name, value, required, ok, detail))


def concurrency(records: list[dict[str, Any]], limits: dict[str, int]) -> dict[str, Any]:
    """Most simultaneous runs per type, and starts above the limit in force then."""
    open_runs: dict[str, dict[tuple[str, str, int], str]] = defaultdict(dict)
    peak: Counter[str] = Counter()
    over: list[str] = []
    current = dict(limits)
    window: dict[str, int] = {}  # type -> the larger limit while a change is in flight
    for r in records:
        kind = r["kind"]
        if kind == "limit":
            if r["phase"] == "begin":
                window[r["type"]] = max(r["old"], r["new"])
            else:
                window.pop(r["type"], None)
                current[r["type"]] = r["new"]
        elif kind == "start":
            runs = open_runs[r["type"]]
            runs[(r["task_id"], r["worker"], r["attempt"])] = r["worker"]
            peak[r["type"]] = max(peak[r["type"]], len(runs))
            allowed = window.get(r["type"], current.get(r["type"]))
            if allowed is not None and len(runs) > allowed:
                over.append(f"{r['type']}: {len(runs)} running > limit {allowed} at {r['t']:.3f}")
        elif kind == "end":
            open_runs[r["type"]].pop((r["task_id"], r["worker"], r["attempt"]), None)
        elif kind == "killed":
            for runs in open_runs.values():
                for key in [k for k, w in runs.items() if w == r["worker"]]:
                    del runs[key]
    return {"peak": dict(peak), "over": over, "final_limits": current}


def duplicates(
    records: list[dict[str, Any]], finished_at: dict[str, float]
) -> tuple[list[str], list[str]]:
    """Second runs of the same attempt while the first run's worker lived, and runs that
    started after the task had finished."""
    killed_workers: set[str] = set()
    first_run: dict[tuple[str, int], str] = {}
    running: set[tuple[str, int, str]] = set()
    alive_dupes: list[str] = []
    after_finish: list[str] = []
    for r in records:
        if r["kind"] == "killed":
            killed_workers.add(r["worker"])
            continue
        if r["kind"] == "end":
            running.discard((r["task_id"], r["attempt"], r["worker"]))
            continue
        if r["kind"] != "start":
            continue
        key = (r["task_id"], r["attempt"])
        if key in first_run:
            worker = first_run[key]
            if worker not in killed_workers:
                overlap = (r["task_id"], r["attempt"], worker) in running
                how = "while it still ran" if overlap else "after it was abandoned"
                alive_dupes.append(
                    f"{r['task_id']} attempt {r['attempt']}: ran on {worker} "
                    f"(alive) and again on {r['worker']} {how}"
                )
        first_run[key] = r["worker"]
        running.add((r["task_id"], r["attempt"], r["worker"]))
        done = finished_at.get(r["task_id"])
        if done is not None and r["t"] > done:
            after_finish.append(f"{r['task_id']} started {r['t'] - done:.3f}s after it finished")
    return alive_dupes, after_finish


def evaluate(
    accepted: dict[str, dict[str, Any]],
    records: list[dict[str, Any]],
    terminal_events: dict[str, list[str]],
    finals: dict[str, Any],
    running_tokens: dict[str, int],
    limits: dict[str, int],
) -> Report:
    """Every invariant of the soak, with its value and the value it must have."""
    rep = Report()
    statuses = Counter(str(t.status) for t in finals.values() if t is not None)
    by_type = Counter(a["type"] for a in accepted.values())
    rep.facts["submitted"] = len(accepted)
    rep.facts["submitted_by_type"] = dict(sorted(by_type.items()))
    rep.facts["terminal_states"] = dict(sorted(statuses.items()))
    starts = [r for r in records if r["kind"] == "start"]
    rep.facts["handler_runs"] = len(starts)
    rep.facts["workers_killed"] = sum(1 for r in records if r["kind"] == "killed")
    rep.facts["limit_changes"] = sum(
        1 for r in records if r["kind"] == "limit" and r["phase"] == "end"
    )

    missing = [tid for tid in accepted if finals.get(tid) is None]
    not_terminal = [tid for tid, t in finals.items() if t is not None and not t.terminal]
    rep.add(
        "accepted tasks lost (record gone)", len(missing), "0", not missing, ", ".join(missing[:5])
    )
    rep.add(
        "accepted tasks not in a terminal state",
        len(not_terminal),
        "0",
        not not_terminal,
        ", ".join(f"{t} ({finals[t].status})" for t in not_terminal[:5]),
    )
    stuck = [t for t in not_terminal if str(finals[t].status) == "processing"]
    rep.add("tasks stuck in processing", len(stuck), "0", not stuck)

    multi = {tid: s for tid, s in terminal_events.items() if len(s) > 1}
    rep.add(
        "tasks with more than one terminal outcome (event log)",
        len(multi),
        "0",
        not multi,
        "; ".join(f"{t}: {s}" for t, s in list(multi.items())[:5]),
    )
    mismatch = [
        tid
        for tid, s in terminal_events.items()
        if s and finals.get(tid) is not None and str(finals[tid].status) != s[-1]
    ]
    rep.add(
        "final status differs from its terminal event",
        len(mismatch),
        "0",
        not mismatch,
        ", ".join(mismatch[:5]),
    )
    unseen = [
        tid
        for tid, t in finals.items()
        if t is not None and t.terminal and not terminal_events.get(tid)
    ]
    rep.add(
        "terminal tasks whose terminal event the follower missed",
        len(unseen),
        "informational (event log is capped)",
        None,
    )

    finished_at = {
        tid: t.completed_at or t.updated_at
        for tid, t in finals.items()
        if t is not None and t.terminal
    }
    alive_dupes, after_finish = duplicates(records, finished_at)
    rep.add(
        "duplicate runs while the first run's worker was alive",
        len(alive_dupes),
        "0",
        not alive_dupes,
        "; ".join(alive_dupes[:5]),
    )
    rep.add(
        "handler runs started after the task finished",
        len(after_finish),
        "0",
        not after_finish,
        "; ".join(after_finish[:5]),
    )
    reruns = len(starts) - len({(r["task_id"], r["attempt"]) for r in starts})
    rep.add(
        "re-runs after a worker was killed (allowed: at-least-once)", reruns, "informational", None
    )

    conc = concurrency(records, limits)
    for task_type in sorted(set(limits) | set(conc["final_limits"])):
        rep.add(
            f"max simultaneous runs of {task_type!r}",
            conc["peak"].get(task_type, 0),
            f"<= its limit then (last: {conc['final_limits'].get(task_type)})",
            None,
        )
    rep.add(
        "starts above the type's limit in force",
        len(conc["over"]),
        "0",
        not conc["over"],
        "; ".join(conc["over"][:5]),
    )

    queue_timed_out = {
        tid
        for tid, t in finals.items()
        if t is not None and str(t.status) == "timeout" and "queue timeout" in (t.error or "")
    }
    ran = {r["task_id"] for r in starts}
    ran_anyway = sorted(queue_timed_out & ran)
    rep.add(
        "queue-timed-out tasks whose handler ran",
        len(ran_anyway),
        "0",
        not ran_anyway,
        ", ".join(ran_anyway[:5]),
    )

    late_start: dict[str, float] = {}
    for r in starts:
        late_start[r["task_id"]] = r["t"]
    canceled_pending = [
        a["id"]
        for a in accepted.values()
        if a.get("cancel") == "pending" and late_start.get(a["id"], 0.0) > a["cancel_t"]
    ]
    rep.add(
        "tasks canceled while pending that ran anyway",
        len(canceled_pending),
        "0",
        not canceled_pending,
        ", ".join(canceled_pending[:5]),
    )

    leaked = {t: n for t, n in running_tokens.items() if n}
    rep.add(
        "concurrency tokens held after the run (leaks)",
        sum(leaked.values()),
        "0",
        not leaked,
        str(leaked) if leaked else "",
    )
    return rep


def memory_trend(samples: list[tuple[float, int]]) -> tuple[float, float, float] | None:
    """(first-fifth mean MB, last-fifth mean MB, slope MB/min) of (seconds, bytes) samples."""
    if len(samples) < 10:
        return None
    fifth = max(2, len(samples) // 5)
    first = sum(b for _, b in samples[:fifth]) / fifth / 2**20
    last = sum(b for _, b in samples[-fifth:]) / fifth / 2**20
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_b = sum(b for _, b in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    slope = sum((t - mean_t) * (b - mean_b) for t, b in samples) / var if var else 0.0
    return first, last, slope * 60 / 2**20


TERMINAL = frozenset({"success", "failed", "timeout", "canceled"})


def mqtt(
    rep: Report,
    records: list[dict[str, Any]],
    finals: dict[str, Any],
    retained: dict[str, dict[str, Any]],
) -> None:
    """The MQTT notifier's invariants, from the ``event`` lines (what each process
    emitted, and when), mosquitto's outages and what a fresh subscriber read.

    What the notifier guarantees, and so what is checked: it never holds up a
    task (tasks finish while mosquitto is down); a process that lives on
    publishes, in order, at least the latest state of every task it changed
    (its buffer keeps every task's latest state, and re-sends what a dead
    connection did not acknowledge). Outside that guarantee, and only counted:
    a SIGKILLed process loses what it had not published; a broker killed with
    kill -9 forgets its retained states; and two processes' events of one task
    reach the broker in any order, so the retained status can be another
    process's older event (the race ``docs/mqtt.md`` tells subscribers to
    order away by retry, timestamp and rank).
    """
    windows: list[tuple[float, float]] = []
    down_at: float | None = None
    last_down = float("-inf")
    for r in records:
        if r["kind"] == "mqtt_down":
            down_at = last_down = r["t"]
        elif r["kind"] == "mqtt_up" and down_at is not None:
            windows.append((down_at, r["t"]))
            down_at = None
    killed = {r["worker"] for r in records if r["kind"] == "killed"}
    terminal_event: dict[str, dict[str, Any]] = {}
    emitted: dict[str, set[tuple[str, int, str]]] = defaultdict(set)
    for r in records:
        if r["kind"] == "event":
            emitted[r["task_id"]].add((r["status"], r["retry"], r["proc"]))
            if r["status"] in TERMINAL:
                terminal_event[r["task_id"]] = r

    def in_outage(t: float) -> bool:
        return any(a <= t <= b for a, b in windows)

    downtime = sum(b - a for a, b in windows)
    finished_down = sum(1 for e in terminal_event.values() if in_outage(e["t"]))
    runs_down = sum(1 for r in records if r["kind"] == "end" and in_outage(r["t"]))
    rep.facts["mqtt_outages"] = len(windows)
    rep.facts["mqtt_downtime_s"] = round(downtime, 1)
    rep.add(
        "tasks finished while mosquitto was down",
        f"{finished_down} ({runs_down} runs ended, {downtime:.1f} s down)",
        "> 0 when down 1 s or more in all",
        finished_down > 0 if downtime >= 1.0 else None,
        "no task reached a terminal state during any outage: the notifier held workers up",
    )

    wrong: list[str] = []
    missing: list[str] = []
    own_stale: list[str] = []
    raced: Counter[str] = Counter()  # retained status -> tasks
    forgotten = killed_first = never_emitted = checked = held = 0
    for tid, task in finals.items():
        if task is None or not task.terminal:
            continue
        status = str(task.status)
        got = retained.get(tid)
        got_status = got.get("status") if got else None
        if got_status == status:
            held += 1
        if got_status in TERMINAL and got_status != status:
            wrong.append(f"{tid}: retained {got_status}, store {status}")
        event = terminal_event.get(tid)
        if event is None:
            never_emitted += 1  # its process died between the store's change and the event
            continue
        if event["t"] <= last_down or event["proc"] in killed:
            # Not guaranteed: maybe published to a broker that was killed later, or
            # still buffered in a process that was killed.
            if got is None:
                if event["t"] <= last_down:
                    forgotten += 1
                else:
                    killed_first += 1
            elif got_status != status and got_status not in TERMINAL:
                raced[str(got_status)] += 1
            continue
        checked += 1
        if got_status == status:
            continue
        if got is None:
            missing.append(f"{tid} ({status} by {event['proc']}): nothing retained")
            continue
        if got_status in TERMINAL:
            continue  # counted in ``wrong``
        others = {
            proc
            for s, retry, proc in emitted[tid]
            if s == got_status and retry == got.get("retry") and proc != event["proc"]
        }
        if others:
            raced[str(got_status)] += 1
        else:
            own_stale.append(
                f"{tid}: retained {got_status} (retry {got.get('retry')}) after "
                f"{event['proc']} published {status}"
            )

    rep.add(
        "retained final status contradicting the store",
        len(wrong),
        "0",
        not wrong,
        "; ".join(wrong[:5]),
    )
    rep.add(
        "guaranteed final statuses mosquitto does not hold",
        f"{len(missing) + len(own_stale)} of {checked}",
        "0 (finished after the last mosquitto kill, by a process never killed)",
        not missing and not own_stale,
        "; ".join((missing + own_stale)[:5]),
    )
    terminal_count = sum(1 for t in finals.values() if t is not None and t.terminal)
    rep.add(
        "terminal tasks whose retained status is their final status",
        f"{held} of {terminal_count}",
        "informational (the rest: below)",
        None,
    )
    rep.add(
        "retained states gone with a killed mosquitto (finished before its last kill)",
        forgotten,
        "informational (no persistence survives kill -9)",
        None,
    )
    rep.add(
        "final statuses of SIGKILLed workers not retained",
        killed_first + never_emitted,
        "informational (unpublished events die with the process)",
        None,
    )
    rep.add(
        "retained status is another process's older event",
        f"{sum(raced.values())} {dict(sorted(raced.items()))}",
        "informational (cross-process order, docs/mqtt.md)",
        None,
    )
