"""The REST API's submit path: requests/s and latency for single and batch submits.

    .venv/bin/python bench/http_submit.py [--seconds 5] [--connections 32] [--batch 100]
                                          [--store URL] [--api-processes 1] [--json]

Starts ``xqueue api examples.app:app`` (the API alone: no worker competes for
the CPU) on a free loopback port with a private SQLite file (or ``--store``,
e.g. a ``redis://`` URL, used for both broker and store unless ``--broker``),
then drives it with keep-alive HTTP/1.1 connections from a minimal asyncio
client (pre-built requests, so the client costs little next to the server):

* ``submit``: ``POST /api/v1/tasks`` with one task per request;
* ``batch``: ``POST /api/v1/tasks/batch`` with ``--batch`` tasks per request;
* ``get``: ``GET /api/v1/tasks/{id}`` of a submitted task (the read path);
* ``submit (in-process)``: ``XQueue.submit`` called directly on the same store,
  ``--connections`` at a time: what the HTTP layer adds is the difference.

Each phase runs ``--seconds`` after a one-second warm-up. Latency is per
request, from writing it to having read the whole answer. Numbers, not
assertions: run it on an idle machine.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from xqueue_core.testing.processes import Processes, xqueue_command, xqueue_env  # noqa: E402
from xqueue_core.testing.services import free_port, port_open, wait_until  # noqa: E402


def request(method: str, path: str, port: int, body: bytes | None = None) -> bytes:
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
    if body is not None:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + (body or b"")


async def connection(
    port: int, requests: list[bytes], until: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = 0
    try:
        while time.perf_counter() < until:
            started = time.perf_counter()
            writer.write(requests[i % len(requests)])
            i += 1
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status >= 300:
                errors.append(status)
    finally:
        writer.close()


async def drive(ports: list[int], requests: list[bytes], conns: int, seconds: float) -> dict:
    warm: list[float] = []
    errors: list[int] = []
    until = time.perf_counter() + 1.0
    await asyncio.gather(
        *(connection(ports[c % len(ports)], requests, until, warm, errors) for c in range(conns))
    )
    latencies: list[float] = []
    errors.clear()
    started = time.perf_counter()
    until = started + seconds
    await asyncio.gather(
        *(
            connection(ports[c % len(ports)], requests, until, latencies, errors)
            for c in range(conns)
        )
    )
    elapsed = time.perf_counter() - started
    return summary(latencies, elapsed, errors)


def summary(latencies: list[float], elapsed: float, errors: list[int]) -> dict:
    ordered = sorted(latencies)
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[max(0, int(len(ordered) * 0.99) - 1)],
        "errors": len(errors),
    }


async def in_process(store: str, broker: str, conns: int, seconds: float) -> dict:
    from examples.app import app

    app.configure(store=store, broker=broker)
    latencies: list[float] = []

    async def loop(until: float, sink: list[float]) -> None:
        while time.perf_counter() < until:
            started = time.perf_counter()
            await app.submit("email", {"to": "bench@example.com"})
            sink.append(time.perf_counter() - started)

    async with app:
        warm: list[float] = []
        until = time.perf_counter() + 1.0
        await asyncio.gather(*(loop(until, warm) for _ in range(conns)))
        started = time.perf_counter()
        until = started + seconds
        await asyncio.gather(*(loop(until, latencies) for _ in range(conns)))
        elapsed = time.perf_counter() - started
    return summary(latencies, elapsed, [])


def start_api(store: str, broker: str, count: int, workdir: Path) -> tuple[list[int], Processes]:
    """``count`` ``xqueue api`` processes on free ports, once each one listens."""
    env = xqueue_env(
        [ROOT],
        log_level="warning",
        load_plugins=os.environ.get("XQUEUE_LOAD_PLUGINS", "http,redis,kafka"),
        http_max_batch="10000",
        http_max_body_bytes=str(64 * 1024 * 1024),
    )
    ports = [free_port() for _ in range(count)]
    argv = xqueue_command("api", "examples.app:app", "--store", store, "--broker", broker)
    commands = [[*argv, "--port", str(port)] for port in ports]
    api = Processes(commands, env, workdir, cwd=workdir, name="api").start()
    for port, proc in zip(ports, api.procs, strict=True):
        wait_until(lambda p=port, pr=proc: port_open(p) or pr.poll() is not None, 30, "the API")
        if proc.poll() is not None:
            api.stop()
            raise SystemExit(f"the API did not start: {api.tail(50)}")
    return ports, api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--store", help="store URL (default: a private SQLite file)")
    parser.add_argument("--broker", help="broker URL (default: the store URL)")
    parser.add_argument("--api-processes", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="xqueue-bench-http-"))
    store = args.store or f"sqlite:///{workdir / 'bench.db'}"
    broker = args.broker or store
    ports, api = start_api(store, broker, args.api_processes, workdir)
    one = orjson.dumps({"type": "email", "payload": {"to": "bench@example.com"}})
    batch = orjson.dumps(
        {"tasks": [{"type": "email", "payload": {"n": i}} for i in range(args.batch)]}
    )
    results: dict[str, dict] = {}
    try:
        submit = [request("POST", "/api/v1/tasks", p, one) for p in ports]
        results["submit"] = asyncio.run(drive(ports, submit, args.connections, args.seconds))
        results["submit"]["tasks_per_second"] = results["submit"]["per_second"]
        batches = [request("POST", "/api/v1/tasks/batch", p, batch) for p in ports]
        conns = max(1, min(args.connections, 8))
        results["batch"] = asyncio.run(drive(ports, batches, conns, args.seconds))
        results["batch"]["tasks_per_second"] = results["batch"]["per_second"] * args.batch
        import httpx

        task_id = httpx.post(
            f"http://127.0.0.1:{ports[0]}/api/v1/tasks",
            content=one,
            headers={"content-type": "application/json"},
        ).json()["id"]
        gets = [request("GET", f"/api/v1/tasks/{task_id}", p) for p in ports]
        results["get"] = asyncio.run(drive(ports, gets, args.connections, args.seconds))
    finally:
        api.stop()
    results["submit (in-process)"] = asyncio.run(
        in_process(store, broker, args.connections, args.seconds)
    )
    results["submit (in-process)"]["tasks_per_second"] = results["submit (in-process)"][
        "per_second"
    ]
    if args.json:
        print(orjson.dumps(results, option=orjson.OPT_INDENT_2).decode())
        return
    print(
        f"xqueue HTTP API, {args.api_processes} API process(es), store {store.split(':')[0]}, "
        f"{args.connections} connections, {args.seconds:.0f} s per phase"
    )
    print(f"{'phase':<22}{'requests/s':>12}{'tasks/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for name, r in results.items():
        tasks = r.get("tasks_per_second")
        print(
            f"{name:<22}{r['per_second']:>12.0f}{(f'{tasks:.0f}' if tasks else '-'):>10}"
            f"{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['errors']:>8}"
        )


if __name__ == "__main__":
    main()
