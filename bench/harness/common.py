"""What every benchmark driver shares: workers as process groups, RSS, drain timing.

Standard library only: the xqueue driver (project venv) and the peer drivers
(``bench/.venv-peers*``) both import this file, each with its own interpreter.

A driver wraps one system in an :class:`Adapter` and calls :func:`run_system`,
which runs the workloads in the same order and with the same timing rules for
every system:

(a) ``n`` no-op tasks enqueued by one producer with no worker running
    (enqueue/s), then the workers start and drain them (drain/s, measured from
    the first completed task to the last, so worker start-up is not counted);
(d) the RSS of the whole worker process tree right after (a): VmRSS of each process
    (shared pages counted in every process, as ``ps`` shows it), summed; each
    process's RSS and PSS (shared pages split between the processes sharing them)
    is kept in the JSON too;
(b) sequential submit→done round trips on idle, warmed-up workers;
(c) ``n`` tasks that sleep 10 ms, drained by workers configured for I/O.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

POLL = 0.02  # how often drain progress is read (seconds)


def log(message: str) -> None:
    """Progress for the person running the bench (stderr, flushed)."""
    print(f"  {message}", file=sys.stderr, flush=True)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (``pct`` in 0..100) of a non-empty sequence."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(pct / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


# -- processes --------------------------------------------------------------------


def _load_processes() -> Any:
    """``xqueue_core.testing.processes`` (standard library only): from the package where
    it is installed, else from the source tree (the peers' venvs do not have xqueue)."""
    try:
        from xqueue_core.testing import processes
    except ImportError:
        path = Path(__file__).resolve().parents[2] / "xqueue_core" / "testing" / "processes.py"
        spec = importlib.util.spec_from_file_location("xqueue_processes", path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return processes


processes = _load_processes()
cpu_seconds = processes.cpu_seconds


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, all cores (/proc/stat).

    Busy is everything but idle and iowait; (0, 0) where there is no /proc/stat.
    """
    try:
        with open("/proc/stat") as fh:
            fields = [int(v) for v in fh.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    tick = os.sysconf("SC_CLK_TCK")
    # user nice system idle iowait irq softirq steal (guest time is already in user/nice)
    total = sum(fields[:8])
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (total - idle) / tick, total / tick


def busy_share(start: tuple[float, float], end: tuple[float, float]) -> dict[str, float] | None:
    """How busy the machine was between two :func:`machine_cpu` readings: ``busy_pct``
    of all cores together (200 = two cores fully busy) out of ``of_pct``."""
    busy, total = end[0] - start[0], end[1] - start[1]
    cores = os.cpu_count() or 1
    if total <= 0:
        return None
    return {"busy_pct": 100.0 * cores * busy / total, "of_pct": 100.0 * cores}


class Costs:
    """What the drained tasks cost: worker CPU, and on Redis its CPU, commands and bytes.

    Read at the first completion and at the end of a drain, so worker start-up is
    not counted. Redis commands include those run inside Lua scripts.
    """

    def __init__(self, redis_url: str | None) -> None:
        self.redis: Any = None
        if redis_url:
            try:
                import redis

                self.redis = redis.Redis.from_url(redis_url)
            except ImportError:
                self.redis = None

    def _redis_state(self) -> dict[str, Any]:
        if self.redis is None:
            return {}
        stats = self.redis.info("stats")
        commands = self.redis.info("commandstats")
        pid = int(self.redis.info("server")["process_id"])
        return {
            "cpu": cpu_seconds(pid),
            "in": stats["total_net_input_bytes"],
            "out": stats["total_net_output_bytes"],
            "commands": sum(v["calls"] for v in commands.values()),
        }

    def mark(self, workers: Workers) -> dict[str, Any]:
        pids = workers.pids()
        return {
            "workers_cpu": sum(cpu_seconds(p) for p in pids),
            "machine_cpu": machine_cpu(),
            **self._redis_state(),
        }

    @staticmethod
    def per_task(start: dict[str, Any], end: dict[str, Any], tasks: int) -> dict[str, float]:
        if tasks <= 0:
            return {}
        out = {"worker_cpu_us": (end["workers_cpu"] - start["workers_cpu"]) / tasks * 1e6}
        if "cpu" in start:
            out["redis_cpu_us"] = (end["cpu"] - start["cpu"]) / tasks * 1e6
            # the polling of this driver is counted too: a few commands per 20 ms
            out["redis_commands"] = (end["commands"] - start["commands"]) / tasks
            out["bytes_in"] = (end["in"] - start["in"]) / tasks
            out["bytes_out"] = (end["out"] - start["out"]) / tasks
        return out


class Workers(processes.Processes):  # type: ignore[misc, name-defined]
    """The worker commands of one workload, each in a session of its own, logging to
    ``$BENCH_LOG_DIR``; :meth:`stop` gives them ``grace`` seconds after SIGTERM."""

    def __init__(self, commands: Sequence[Sequence[str]], env: dict[str, str], cwd: str) -> None:
        log_dir = Path(env.get("BENCH_LOG_DIR", "/tmp"))
        super().__init__(commands, env, log_dir, cwd=cwd, name="workers")

    def stop(self, grace: float = 8.0) -> None:
        super().stop(grace)


# -- the adapter every driver implements ----------------------------------------------


@dataclass
class Adapter:
    """One system under test. Drivers fill in the callables; all of them are blocking."""

    name: str
    config: dict[str, str]  # workload -> configuration text shown next to the row
    reset: Callable[[], None]  # empty queues and records (no worker is running)
    enqueue: Callable[[str, int], None]  # (kind "noop" | "sleep", count)
    remaining: Callable[[], int]  # tasks of the current batch not finished yet
    roundtrip: Callable[[], None]  # submit one task and wait until it is done
    worker_commands: Callable[[str], list[list[str]]]  # mode "throughput" | "io" | "single"
    worker_env: dict[str, str]
    worker_cwd: str
    close: Callable[[], None] = lambda: None
    versions: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    single_process_drain: bool = False  # also measure (a) with one worker process
    # (worker, completion time) of every task of the last batch, where the system keeps
    # them: gives the drain rate from the moment every worker process was taking work
    completions: Callable[[], list[tuple[str, float]]] | None = None
    redis_url: str | None = None  # the Redis it uses, for the cost figures


@dataclass
class Options:
    n: int = 20000
    sleep_n: int = 20000
    latency_n: int = 500
    budget: float = 180.0  # seconds allowed for one drain
    workloads: tuple[str, ...] = ("a", "b", "c")


def measure_drain(adapter: Adapter, workers: Workers, total: int, budget: float) -> dict[str, Any]:
    """Wait for the first completion, then time the rest of the batch."""
    start_wait = time.monotonic()
    while True:
        left = adapter.remaining()
        if left < total:
            break
        workers.check_alive()
        if time.monotonic() - start_wait > 120:
            raise RuntimeError(
                f"no task finished within 120 s of starting the workers: {workers.tail()}"
            )
        time.sleep(POLL / 4)  # finely, so the first completion is caught early
    t0, done0 = time.perf_counter(), total - left
    costs = Costs(adapter.redis_url)
    mark0 = costs.mark(workers)
    deadline = t0 + budget
    while left > 0 and time.perf_counter() < deadline:
        time.sleep(POLL)
        left = adapter.remaining()
    elapsed = time.perf_counter() - t0
    done = total - left
    mark1 = costs.mark(workers)
    # None: the whole batch finished between two polls (n is too small to time)
    rate = (done - done0) / elapsed if done > done0 else None
    cpu = busy_share(mark0["machine_cpu"], mark1["machine_cpu"])
    if cpu is not None and elapsed > 0:  # the workers' part of it (this driver polls too)
        cpu["workers_pct"] = 100.0 * (mark1["workers_cpu"] - mark0["workers_cpu"]) / elapsed
    return {
        "rate": rate,
        "done": done,
        "total": total,
        "seconds": elapsed,
        "complete": left == 0,
        "costs": Costs.per_task(mark0, mark1, done - done0),
        "cpu": cpu,
    }


def _drain_workload(
    adapter: Adapter,
    kind: str,
    count: int,
    mode: str,
    opts: Options,
    keep: Callable[[Workers], None] | None = None,
) -> dict[str, Any]:
    adapter.reset()
    t0 = time.perf_counter()
    adapter.enqueue(kind, count)
    enqueue_s = time.perf_counter() - t0
    log(f"{adapter.name}: enqueued {count} {kind} tasks in {enqueue_s:.2f}s; draining ({mode})")
    workers = Workers(adapter.worker_commands(mode), adapter.worker_env, adapter.worker_cwd)
    workers.start()
    try:
        drain = measure_drain(adapter, workers, count, opts.budget)
        if keep is not None:
            keep(workers)
    finally:
        workers.stop()
    drain["enqueue_rate"] = count / enqueue_s
    if adapter.completions is not None and drain["complete"]:
        drain["all_working"] = all_working_rate(adapter.completions())
    cpu = drain["cpu"]
    busy = f" (machine CPU {cpu['busy_pct']:.0f}%/{cpu['of_pct']:.0f}%)" if cpu else ""
    log(f"{adapter.name}: drained {drain['done']}/{count} at {drain['rate'] or 0:.0f}/s{busy}")
    return drain


def all_working_rate(completions: list[tuple[str, float]]) -> dict[str, Any] | None:
    """Tasks per second from the moment every worker had finished one task to the last
    completion (a consumer group that is still rebalancing is left out), and how many
    workers took part."""
    firsts: dict[str, float] = {}
    for worker, at in completions:
        firsts[worker] = min(at, firsts.get(worker, at))
    if not firsts:
        return None
    start = max(firsts.values())
    times = sorted(at for _, at in completions if at >= start)
    if len(times) < 2 or times[-1] <= start:
        return None
    return {
        "rate": (len(times) - 1) / (times[-1] - start),
        "workers": len(firsts),
        "tasks": len(times),
        "from_s": start - min(firsts.values()),
    }


def _latency(adapter: Adapter, opts: Options) -> dict[str, Any]:
    adapter.reset()
    workers = Workers(
        adapter.worker_commands("throughput"), adapter.worker_env, adapter.worker_cwd
    ).start()
    try:
        give_up = time.monotonic() + 120
        while True:  # the first round trip also waits for the workers to start
            try:
                adapter.roundtrip()
                break
            except Exception:
                workers.check_alive()
                if time.monotonic() > give_up:
                    raise
        for _ in range(20):
            adapter.roundtrip()
        time.sleep(0.5)  # idle workers: let any batching/timers settle
        samples = []
        for _ in range(opts.latency_n):
            t0 = time.perf_counter()
            adapter.roundtrip()
            samples.append((time.perf_counter() - t0) * 1000)
    finally:
        workers.stop()
    result = {f"p{p}": percentile(samples, p) for p in (50, 90, 99)}
    log(f"{adapter.name}: round trip p50 {result['p50']:.2f} ms, p99 {result['p99']:.2f} ms")
    return result


def run_system(adapter: Adapter, opts: Options) -> dict[str, Any]:
    """Every workload for one system; a failing workload is reported, not fatal."""
    out: dict[str, Any] = {
        "system": adapter.name,
        "config": adapter.config,
        "versions": adapter.versions,
        "notes": adapter.notes,
        "errors": {},
    }

    def attempt(key: str, fn: Callable[[], Any]) -> None:
        try:
            out[key] = fn()
        except Exception as exc:
            out["errors"][key] = f"{type(exc).__name__}: {exc}"[:500]
            log(f"{adapter.name}: {key} failed: {out['errors'][key]}")

    def keep_rss(workers: Workers) -> None:
        out["rss"] = workers.memory()

    try:
        if "a" in opts.workloads:
            attempt(
                "noop",
                lambda: _drain_workload(adapter, "noop", opts.n, "throughput", opts, keep_rss),
            )
            if adapter.single_process_drain:
                attempt(
                    "noop_single", lambda: _drain_workload(adapter, "noop", opts.n, "single", opts)
                )
        if "b" in opts.workloads:
            attempt("latency", lambda: _latency(adapter, opts))
        if "c" in opts.workloads:
            attempt("sleep", lambda: _drain_workload(adapter, "sleep", opts.sleep_n, "io", opts))
    finally:
        adapter.close()
    return out


def driver_options(argv: Sequence[str] | None = None) -> tuple[Any, Options]:
    """The command line every driver takes (the harness passes the same to each)."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--system", required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--kafka-url", default="")
    parser.add_argument("--n", type=int, default=20000)
    parser.add_argument("--sleep-n", type=int, default=None)
    parser.add_argument("--latency-n", type=int, default=500)
    parser.add_argument("--budget", type=float, default=180.0)
    parser.add_argument("--workloads", default="a,b,c")
    parser.add_argument("--concurrency", type=int, default=0, help="xqueue, per process")
    parser.add_argument("--io-concurrency", type=int, default=500)
    parser.add_argument("--workdir", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    opts = Options(
        n=args.n,
        sleep_n=args.sleep_n if args.sleep_n is not None else args.n,
        latency_n=args.latency_n,
        budget=args.budget,
        workloads=tuple(w.strip() for w in args.workloads.split(",") if w.strip()),
    )
    return args, opts


def write_result(path: str, result: dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(result, indent=2, default=str))


def package_versions(*names: str) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in names:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "?"
    return out
