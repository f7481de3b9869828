"""Celery's half of ``bench/workflows.py``: a chord of N members against N independent
tasks, on Celery 5 (its canvas), in the peers' virtualenv.

This file is both the Celery app the workers import (``celery -A celery_chord worker``,
the broker URL from ``$BENCH_REDIS_URL``) and the driver ``bench/workflows.py`` runs in
``bench/.venv-peers``::

    bench/.venv-peers/bin/python bench/peers/celery_chord.py --redis-url redis://127.0.0.1:PORT/0 \\
        --members 10000 --workdir DIR --out result.json

Configuration: Redis broker on db 0 of the given server, Redis result backend on db 1
(a chord needs a result backend; the Redis backend joins a chord natively: each
member's end adds its result to the chord's sorted set in one Lua call, and the member
that completes the set sends the callback, no ``chord_unlock`` polling task). One
``celery worker -P prefork -c 2`` (``--concurrency``): two pool processes, one per
core, Celery's own default on two cores (what ``bench/run`` runs too), default
prefetch (x4) and early ack.

Two runs per round, each on emptied databases, the worker started after the submit:

* ``independent``: N ``member`` tasks, ``apply_async`` in batches of 1000 on one
  producer each (Celery has no bulk send);
* ``chord``: ``chord(group(member.s() for _ in range(N)), callback.s()).apply_async()``
  as Celery documents it; the callback receives the N results.

``member`` returns 1 and keeps its result in both runs (a chord member must), so the
chord/independent ratio is what the chord adds; ``callback`` returns how many results
it got (checked: N).

How completion is known, the same for both runs and not in the tasks: the result
backend's database holds one ``celery-task-meta-<id>`` key per finished task (plus,
for the chord, its few ``celery-taskset-meta-<group>.*`` keys, counted with EXISTS and
taken off), so the driver reads ``DBSIZE`` of db 1 every 20 ms (every 5 ms until the
first): first completion to the last (for the chord, the callback's result key), as
the xqueue side reads its store's counts. Writes ``--out`` (JSON). The worker runs in a
session of its own and is stopped as a group (``harness/common.py``: SIGTERM, then
SIGKILL of the tree); SIGTERM to this driver stops it the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from celery import Celery, chord, group

HERE = Path(__file__).resolve().parent
BIN = Path(sys.executable).parent
POLL = 0.02  # as bench/flow.py
STALL = 60.0
BATCH = 1000

app = Celery("wf")


def backend_url(url: str) -> str:
    """The result backend: db 1 of the broker's server."""
    return url.rsplit("/", 1)[0] + "/1"


def configure(url: str) -> None:
    app.conf.update(
        broker_url=url,
        result_backend=backend_url(url),
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )


if os.environ.get("BENCH_REDIS_URL"):
    configure(os.environ["BENCH_REDIS_URL"])


@app.task(name="wf.member")
def member() -> int:
    return 1


@app.task(name="wf.callback")
def callback(results: list[int]) -> int:
    return len(results)


def reset(broker: Any, backend: Any) -> None:
    """Empty both databases, keeping kombu's exchange bindings (the producer declared
    them once and caches that)."""
    keys = [k for k in broker.scan_iter(count=1000) if not k.startswith(b"_kombu.binding")]
    for start in range(0, len(keys), 1000):
        broker.delete(*keys[start : start + 1000])
    backend.flushdb()


def worker_command(args: argparse.Namespace) -> list[str]:
    return [
        str(BIN / "celery"),
        "-A",
        "celery_chord",
        "worker",
        "-P",
        "prefork",
        "-c",
        str(args.concurrency),
        "--loglevel",
        "WARNING",
        "-n",
        "wf1@%h",
    ]


def drain(args: argparse.Namespace, run: str, broker: Any, backend: Any) -> dict[str, Any]:
    from common import Workers, cpu_seconds

    n = args.members
    reset(broker, backend)
    t = time.perf_counter()
    extra: list[str] = []  # the chord's own keys in the result database
    last_key = None
    if run == "chord":
        result = chord(group(member.s() for _ in range(n)), callback.s()).apply_async()
        gid = result.parent.id
        extra = [
            app.backend.get_key_for_group(gid, suffix)
            for suffix in ("", ".j", ".t", ".s", ".d", ".c")
        ]
        last_key = app.backend.get_key_for_task(result.id)
        total = n + 1
    else:
        for i in range(0, n, BATCH):
            with app.producer_or_acquire() as producer:
                for _ in range(min(BATCH, n - i)):
                    member.apply_async(producer=producer)
        total = n
    submit_s = time.perf_counter() - t

    def finished() -> int:
        with backend.pipeline(transaction=False) as pipe:
            pipe.dbsize()
            if extra:
                pipe.exists(*extra)
            counts = pipe.execute()
        return int(counts[0]) - (int(counts[1]) if extra else 0)

    def ended(done: int) -> bool:
        return done >= total if last_key is None else bool(backend.exists(last_key))

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "BENCH_REDIS_URL": args.redis_url,
        "BENCH_LOG_DIR": args.workdir,
    }
    with Workers([worker_command(args)], env, str(HERE)) as workers:
        give_up = time.monotonic() + 120
        while (done := finished()) == 0:
            workers.check_alive()
            if time.monotonic() > give_up:
                raise RuntimeError(f"no task finished within 120 s: {workers.tail()}")
            time.sleep(POLL / 4)
        t0, first, seen, moved = time.perf_counter(), done, done, time.perf_counter()
        cpu0 = sum(cpu_seconds(p) for p in workers.pids())
        while not ended(done):
            time.sleep(POLL)
            done = finished()
            now = time.perf_counter()
            if done > seen:
                seen, moved = done, now
            elif now - moved > STALL or now - t0 > args.budget:
                workers.check_alive()
                break
        elapsed = time.perf_counter() - t0
        cpu1 = sum(cpu_seconds(p) for p in workers.pids())
        done = finished()
        got = None
        if last_key is not None and ended(done):
            got = result.get(timeout=30)  # the callback's return: how many results it had
    complete = ended(done) and (last_key is None or got == n)
    timed = (total if complete else done) - first
    return {
        "run": run,
        "tasks": total,
        "done": done,
        "complete": complete,
        "callback_results": got,
        "submit_s": submit_s,
        "seconds": elapsed,
        "rate": timed / elapsed if timed > 0 and elapsed > 0 else None,
        "worker_cpu_s_per_1000": 1000 * (cpu1 - cpu0) / timed if timed > 0 else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--redis-url", required=True, help="the broker: redis://host:port/0")
    parser.add_argument("--members", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=2, help="prefork pool processes")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds per drain")
    parser.add_argument("--workdir", required=True, help="worker logs")
    parser.add_argument("--out", required=True, help="JSON result")
    args = parser.parse_args()
    # SIGTERM (the bench stopping this driver): unwind, so the worker is stopped too
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.path[:0] = [str(HERE.parent / "harness")]
    import redis
    from common import package_versions

    configure(args.redis_url)
    broker = redis.Redis.from_url(args.redis_url)
    backend = redis.Redis.from_url(backend_url(args.redis_url))
    with app.producer_or_acquire() as producer:  # declare the queue before the first reset
        member.apply_async(producer=producer, ignore_result=True)
    results = []
    for round_ in range(args.rounds):
        for run in ("independent", "chord"):
            print(f"  celery: {run} (round {round_ + 1})", file=sys.stderr, flush=True)
            results.append({**drain(args, run, broker, backend), "round": round_ + 1})
            print(f"    {results[-1]['rate'] or 0:,.0f} tasks/s", file=sys.stderr, flush=True)
    out = {
        "config": f"celery worker -P prefork -c {args.concurrency} (one worker, "
        f"{args.concurrency} pool processes), prefetch x4, early ack; Redis broker db 0, "
        "Redis result backend db 1",
        "versions": package_versions("celery", "kombu", "billiard", "redis"),
        "redis_server": broker.info("server")["redis_version"],
        "runs": results,
    }
    Path(args.out).write_text(json.dumps(out, indent=2, default=str) + "\n")


if __name__ == "__main__":
    main()
