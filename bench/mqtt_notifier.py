"""What the MQTT notifier costs: N no-op tasks on the embedded backend, with and without it.

    .venv/bin/python bench/mqtt_notifier.py [--tasks 3000] [--concurrency 50] [--qos 1]

Starts a private mosquitto on a free port (or uses ``--mqtt URL``), then for each
mode submits N tasks and runs them with one worker, timing:

- submit: ``submit_many`` in batches of 500 (each submit also emits ``pending``);
- run: worker start until every task is ``success`` in the store;
- delivered (MQTT only): until a subscriber has received every task's ``success``
  on ``{prefix}/status/success`` — the end-to-end time to push every final state.

Numbers, not assertions: this is a benchmark, not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import structlog
import xqueue_mqtt

from xqueue_core import XQueue
from xqueue_core.testing import reaper
from xqueue_core.testing.services import ServiceProcess, mosquitto_command, mosquitto_reason

# Benchmarks, like the CLI, configure logging: warnings only, so printing costs nothing.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def start_mosquitto() -> ServiceProcess:
    reason = mosquitto_reason()
    if reason is not None:
        sys.exit(f"{reason}, or pass --mqtt URL")
    # The counting subscriber may fall behind a burst: queue, do not drop.
    command = mosquitto_command(["allow_anonymous true", "max_queued_messages 0"])
    return ServiceProcess("mosquitto", command).start()


# Runs in its own process, so receiving costs the measured process nothing.
SUBSCRIBER = """
import asyncio, sys, aiomqtt
async def main(host, port, topic, want):
    done = set()
    async with aiomqtt.Client(host, int(port)) as client:
        await client.subscribe(topic, qos=1)
        print("ready", flush=True)
        async for message in client.messages:
            if b'"status":"success"' in message.payload:
                done.add(str(message.topic))
                if len(done) == int(want):
                    print("done", flush=True)
                    return
asyncio.run(main(*sys.argv[1:]))
"""


async def start_subscriber(url: str, tasks: int) -> asyncio.subprocess.Process:
    """A subscriber process that prints ``done`` once every task's success arrived."""
    cfg = xqueue_mqtt.parse_settings(url)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        SUBSCRIBER,
        cfg.host,
        str(cfg.port),
        f"{cfg.prefix}/tasks/+/status",
        str(tasks),
        stdout=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    reaper.watch(proc.pid)  # ends with the bench, however it ends
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 30)
    if line.strip() != b"ready":
        sys.exit(f"the subscriber did not start: {line!r}")
    return proc


async def run_mode(args: argparse.Namespace, notify: list[str], workdir: Path) -> dict[str, float]:
    db = f"sqlite:///{tempfile.mkdtemp(dir=workdir)}/bench.db"
    app = XQueue(
        store=db,
        broker=db,
        notify=notify,
        plugins=[xqueue_mqtt.plugin],
        autoload_plugins=False,
    )

    @app.task("noop")
    async def noop(payload: dict[str, object]) -> None:
        return None

    subscriber = await start_subscriber(notify[0], args.tasks) if notify else None
    out: dict[str, float] = {}
    async with app:
        cpu = time.process_time()
        start = time.perf_counter()
        for first in range(0, args.tasks, 500):
            count = min(500, args.tasks - first)
            await app.submit_many([{"type": "noop", "payload": {"i": i}} for i in range(count)])
        out["submit"] = args.tasks / (time.perf_counter() - start)
        start = time.perf_counter()
        async with app.worker(concurrency=args.concurrency):
            while (await app.store.counts())["status"].get("success", 0) < args.tasks:
                await asyncio.sleep(0.02)
            out["run"] = args.tasks / (time.perf_counter() - start)
            out["cpu"] = (time.process_time() - cpu) / args.tasks * 1e6  # µs per task
            if subscriber is not None:
                assert subscriber.stdout is not None
                done = await asyncio.wait_for(subscriber.stdout.readline(), 120)
                assert done.strip() == b"done", done
                out["delivered"] = args.tasks / (time.perf_counter() - start)
                notifier: Any = app.notifiers[0]
                await_empty = time.perf_counter() + 30
                while notifier.stats()["buffered"] and time.perf_counter() < await_empty:
                    await asyncio.sleep(0.01)
                stats = notifier.stats()
                out["published"], out["dropped"] = stats["published"], stats["dropped"]
    if subscriber is not None:
        await subscriber.wait()
        reaper.forget(subscriber.pid)
    return out


def best(key: str, values: list[float]) -> float:
    return min(values) if key == "cpu" else max(values)


def report(args: argparse.Namespace, url: str, runs: dict[str, list[dict[str, float]]]) -> None:
    without, with_mqtt = (
        {key: best(key, [r[key] for r in runs[mode]]) for key in runs[mode][0]}
        for mode in ("without", "with")
    )
    print(
        f"\n{args.tasks} no-op tasks, concurrency {args.concurrency}, embedded sqlite, "
        f"{os.cpu_count()} CPUs, best of {args.rounds} alternating rounds"
    )
    print(f"notifier: {url}")
    print(f"{'':24}{'submit/s':>10}{'run/s':>10}{'delivered/s':>13}{'CPU µs/task':>13}")
    print(
        f"{'without notifier':24}{without['submit']:10.0f}{without['run']:10.0f}{'-':>13}"
        f"{without['cpu']:13.0f}"
    )
    print(
        f"{'with MQTT notifier':24}{with_mqtt['submit']:10.0f}{with_mqtt['run']:10.0f}"
        f"{with_mqtt['delivered']:13.0f}{with_mqtt['cpu']:13.0f}"
    )
    print(
        f"{'ratio (with / without)':24}{with_mqtt['submit'] / without['submit']:10.2f}"
        f"{with_mqtt['run'] / without['run']:10.2f}{'':13}"
        f"{with_mqtt['cpu'] / without['cpu']:13.2f}"
    )
    print(
        f"events published {with_mqtt['published']:.0f} per round, dropped "
        f"{with_mqtt['dropped']:.0f}; a separate subscriber process received every final state"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--qos", type=int, default=1, choices=(0, 1, 2))
    parser.add_argument("--rounds", type=int, default=3, help="best of N alternating runs")
    parser.add_argument("--mqtt", help="use this broker (mqtt://host:port), not a private one")
    parser.add_argument("--query", default="", help="more notifier settings, e.g. protocol=311")
    args = parser.parse_args()
    broker = None if args.mqtt else start_mosquitto()
    base = args.mqtt or f"mqtt://127.0.0.1:{broker.port}"  # type: ignore[union-attr]
    url = f"{base}?prefix=bench&qos={args.qos}&buffer=100000"
    if args.query:
        url += f"&{args.query}"
    workdir = Path(tempfile.mkdtemp(prefix="xqueue-bench-mqtt-"))
    runs: dict[str, list[dict[str, float]]] = {"without": [], "with": []}
    try:
        for _ in range(args.rounds):  # alternate, then keep the best: the machine is shared
            runs["without"].append(await run_mode(args, [], workdir))
            # A fresh prefix per round: earlier rounds' retained states must not count.
            fresh = url.replace("prefix=bench", f"prefix=bench{len(runs['with'])}")
            runs["with"].append(await run_mode(args, [fresh], workdir))
    finally:
        if broker is not None:
            broker.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report(args, url, runs)


if __name__ == "__main__":
    asyncio.run(main())
