"""``soak/run`` (``python -m soak``): the soak from the command line (``--help``)."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from .driver import RESULTS, Config, main
from .services import mqtt_reason


def backend_default() -> str:
    try:
        import xqueue_redis  # noqa: F401
    except ImportError:
        return "sqlite"
    return "redis"


def parse(argv: list[str] | None = None) -> tuple[Config, bool]:
    p = argparse.ArgumentParser(
        prog="soak/run",
        description="A mixed workload against xqueue while workers are SIGKILLed and "
        "restarted, Redis (AOF), mosquitto and Tansu are killed with kill -9 and started "
        "again, and limits change; then invariant checks. "
        "`--backend kafka --mqtt` restarts all three services in one run.",
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
        "--kafka-every",
        type=float,
        nargs=2,
        default=(30.0, 60.0),
        metavar=("MIN", "MAX"),
        help="seconds between Tansu restarts with --backend kafka (default 30 60). Tansu "
        "keeps messages in memory only and comes back empty",
    )
    p.add_argument(
        "--republish-after",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="with --backend kafka: the republish_after setting of the submitter and the "
        "workers, which publishes again what Tansu lost in a restart (default 5)",
    )
    mqtt = p.add_mutually_exclusive_group()
    mqtt.add_argument(
        "--mqtt",
        action="store_true",
        default=None,
        help="publish task status through the MQTT notifier (xqueue-mqtt) to a private "
        "mosquitto that is killed (kill -9), kept down a while and started again on the same "
        "port; checks that tasks finish meanwhile and what mosquitto retains at the end "
        "(default: on for redis and kafka when mosquitto and xqueue-mqtt are installed)",
    )
    mqtt.add_argument("--no-mqtt", dest="mqtt", action="store_false", help="no MQTT notifier")
    p.add_argument(
        "--mqtt-every",
        type=float,
        nargs=2,
        default=(20.0, 40.0),
        metavar=("MIN", "MAX"),
        help="seconds between mosquitto kills (default 20 40)",
    )
    p.add_argument(
        "--mqtt-down",
        type=float,
        nargs=2,
        default=(1.0, 4.0),
        metavar=("MIN", "MAX"),
        help="seconds mosquitto stays down after a kill (default 1 4)",
    )
    p.add_argument(
        "--lease",
        type=float,
        default=5.0,
        help="workers' lease TTL in seconds (default 5). A dead worker's tasks come back "
        "after it; a store outage longer than it makes runs lose their lease and run again "
        "(by design), which this soak counts as duplicates — a Redis restart here is "
        "kill -9, start and reading the AOF back, 1-2 s after a few minutes of writes",
    )
    p.add_argument(
        "--redis-options",
        default="",
        metavar="QUERY",
        help="URL options for the Redis store and broker, e.g. lane=true or lane=false "
        "(docs/redis.md); checked like any store URL",
    )
    p.add_argument("--seed", type=int, default=0, help="random seed (0: a new one each run)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (records, logs)")
    p.add_argument("--results", default=str(RESULTS), help=f"where the JSON goes ({RESULTS})")
    a = p.parse_args(argv)
    if a.republish_after < 0:
        p.error("--republish-after must be 0 or more seconds")
    if a.workers < 2:
        p.error("--workers must be at least 2 (worker 0 is never killed)")
    reason = mqtt_reason()
    if a.mqtt is None:
        a.mqtt = a.backend != "sqlite" and reason is None
    elif a.mqtt and reason is not None:
        p.error(f"--mqtt: {reason}")
    cfg = Config(
        seconds=a.seconds if a.seconds is not None else a.minutes * 60,
        backend=a.backend,
        rate=a.rate,
        workers=a.workers,
        concurrency=a.concurrency,
        lease=a.lease,
        kill_every=tuple(a.kill_every),
        redis_every=tuple(a.redis_every),
        kafka_every=tuple(a.kafka_every),
        republish_after=a.republish_after,
        redis_options=a.redis_options.lstrip("?"),
        mqtt=a.mqtt,
        mqtt_every=tuple(a.mqtt_every),
        mqtt_down=tuple(a.mqtt_down),
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
