"""``bench/soak/run``: the soak from the command line (``--help`` for the options)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from .driver import Config, main


def backend_default() -> str:
    try:
        import xqueue_redis  # noqa: F401
    except ImportError:
        return "sqlite"
    return "redis"


def parse(argv: list[str] | None = None) -> tuple[Config, bool]:
    p = argparse.ArgumentParser(
        prog="bench/soak/run",
        description="A mixed workload against xqueue while workers are SIGKILLed and "
        "restarted (and Redis is restarted with AOF), then invariant checks.",
    )
    p.add_argument("--minutes", type=float, default=10.0, help="how long to submit (default 10)")
    p.add_argument("--seconds", type=float, help="the same in seconds (overrides --minutes)")
    p.add_argument(
        "--backend",
        choices=("sqlite", "redis", "kafka"),
        default=backend_default(),
        help="sqlite (embedded), redis (Redis store + broker), kafka (Kafka broker "
        "+ Redis store); default: redis when xqueue-redis is installed",
    )
    p.add_argument("--rate", type=float, default=25.0, help="submits per second (default 25)")
    p.add_argument("--workers", type=int, default=3, help="worker processes (default 3)")
    p.add_argument("--concurrency", type=int, default=8, help="tasks at once per worker")
    p.add_argument(
        "--kill-every",
        type=float,
        nargs=2,
        default=(4.0, 10.0),
        metavar=("MIN", "MAX"),
        help="seconds between worker SIGKILLs (uniform, default 4 10)",
    )
    p.add_argument(
        "--redis-every",
        type=float,
        nargs=2,
        default=(30.0, 60.0),
        metavar=("MIN", "MAX"),
        help="seconds between Redis restarts (default 30 60)",
    )
    p.add_argument(
        "--lease",
        type=float,
        default=2.0,
        help="workers' lease TTL in seconds (default 2: a dead worker's tasks come back fast; "
        "a store outage longer than this makes runs lose their lease)",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (0: a new one each run)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (records, logs)")
    p.add_argument("--results", default=str(Path(__file__).resolve().parents[1] / "results"))
    a = p.parse_args(argv)
    if a.workers < 2:
        p.error("--workers must be at least 2 (worker 0 is never killed)")
    cfg = Config(
        seconds=a.seconds if a.seconds is not None else a.minutes * 60,
        backend=a.backend,
        rate=a.rate,
        workers=a.workers,
        concurrency=a.concurrency,
        lease=a.lease,
        kill_every=tuple(a.kill_every),
        redis_every=tuple(a.redis_every),
        seed=a.seed,
        results=a.results,
    )
    return cfg, a.keep


def run(argv: list[str] | None = None) -> int:
    cfg, keep = parse(argv)
    workdir = Path(tempfile.mkdtemp(prefix="xqueue-soak-"))
    code = 1
    try:
        code = main(cfg, workdir)
    finally:
        if keep or code != 0:
            print(f"work directory kept: {workdir}", file=sys.stderr)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return code


if __name__ == "__main__":
    raise SystemExit(run())
