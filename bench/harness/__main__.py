"""``bench/run``: xqueue and its peers on the same workloads, in one run.

Installs the peers into their own virtualenvs (``bench/.venv-peers``, and
``bench/.venv-peers-arq`` because arq pins redis-py < 6), starts a private
Redis (and a Kafka-protocol broker when the Kafka configuration is measured)
on free loopback ports, runs one driver process per system, then prints the
table and the ratios and writes ``bench/results/bench-<time>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import report
from .ceiling import run_ceiling
from .services import kafka_reason, redis_service, tansu_service
from .venvs import PEER_VENV, ensure_peer_venvs, xqueue_python

HERE = Path(__file__).resolve().parent
BENCH = HERE.parent
SYSTEMS = (*report.PEERS, *report.XQUEUE, "ceiling")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="bench/run", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--n", type=int, default=20000, help="tasks in (a) and (c) (default 20000)")
    p.add_argument("--sleep-n", type=int, help="tasks in (c) (default: --n)")
    p.add_argument("--latency-n", type=int, default=500, help="round trips in (b)")
    p.add_argument("--only", help=f"comma-separated systems: {','.join(SYSTEMS)}")
    p.add_argument("--skip", default="", help="comma-separated systems to leave out")
    p.add_argument("--no-peers", action="store_true", help="no peer venv, no peer runs")
    p.add_argument("--workloads", default="a,b,c", help="subset of a,b,c (d comes with a)")
    p.add_argument(
        "--budget",
        type=float,
        default=180.0,
        help="seconds one drain may take before it is cut (reported as partial)",
    )
    p.add_argument(
        "--concurrency",
        type=int,
        default=100,
        help="xqueue tasks at once per process in (a)/(b) (default 100, as docs/operations.md "
        "recommends for async handlers; 0 = xqueue's default of 10)",
    )
    p.add_argument(
        "--io-concurrency",
        type=int,
        default=500,
        help="tasks at once per process in (c), for every system",
    )
    p.add_argument("--results", default=str(BENCH / "results"), help="where the JSON goes")
    return p.parse_args(argv)


def selected(args: argparse.Namespace) -> list[str]:
    names = [s.strip() for s in args.only.split(",")] if args.only else list(SYSTEMS)
    unknown = [n for n in names if n not in SYSTEMS]
    if unknown:
        raise SystemExit(
            f"bench/run: unknown system(s) {', '.join(unknown)}; known: {', '.join(SYSTEMS)}"
        )
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if args.no_peers:
        skip |= set(report.PEERS)
    return [n for n in names if n not in skip]


def xqueue_reason(system: str) -> str | None:
    """Why an xqueue configuration cannot run here (None: it can)."""
    from xqueue_core.errors import XQueueError
    from xqueue_core.plugins import Plugins
    from xqueue_core.settings import Settings

    needs = {
        "xqueue-embedded": [],
        "xqueue-redis": [("store", "redis://127.0.0.1:1/0"), ("broker", "redis://127.0.0.1:1/0")],
        "xqueue-kafka": [("store", "redis://127.0.0.1:1/0"), ("broker", "kafka://127.0.0.1:1")],
    }[system]
    plugins = Plugins(env={})
    for role, url in needs:
        try:
            spec = plugins.backend_spec(role, url)  # type: ignore[arg-type]
            spec.factory(url, Settings())  # imports the driver; connects nothing
        except (XQueueError, ImportError) as exc:
            return f"{role} for {url.split(':')[0]}:// unavailable: {exc}"
    if system == "xqueue-kafka":
        return kafka_reason()
    return None


def run_driver(
    system: str, args: argparse.Namespace, env_urls: dict[str, str], workdir: Path
) -> dict[str, Any]:
    out = workdir / f"{system}.json"
    if system in report.PEERS:
        python = PEER_VENV[system] / "bin" / "python"
        script = BENCH / "peers" / "driver.py"
    else:
        python = xqueue_python()
        script = HERE / "xq_driver.py"
    argv = [
        str(python),
        str(script),
        "--system",
        system,
        "--redis-url",
        env_urls["redis"],
        "--kafka-url",
        env_urls.get("kafka", ""),
        "--n",
        str(args.n),
        "--sleep-n",
        str(args.sleep_n or args.n),
        "--latency-n",
        str(args.latency_n),
        "--budget",
        str(args.budget),
        "--workloads",
        args.workloads,
        "--concurrency",
        str(args.concurrency),
        "--io-concurrency",
        str(args.io_concurrency),
        "--workdir",
        str(workdir),
        "--out",
        str(out),
    ]
    print(f"\n== {system}", file=sys.stderr, flush=True)
    limit = 3 * 120 + 3 * args.budget + args.latency_n * 2 + 300
    try:
        proc = subprocess.run(argv, timeout=limit, cwd=workdir)
    except subprocess.TimeoutExpired:
        return {"system": system, "errors": {"driver": f"timed out after {limit:.0f}s"}}
    if proc.returncode != 0 or not out.exists():
        return {"system": system, "errors": {"driver": f"exited with {proc.returncode}"}}
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    systems = selected(args)
    skipped: dict[str, str] = {}
    for system in [s for s in systems if s in report.XQUEUE]:
        reason = xqueue_reason(system)
        if reason:
            skipped[system] = reason
    systems = [s for s in systems if s not in skipped]
    peers = [s for s in systems if s in report.PEERS]
    if peers:
        ensure_peer_venvs(peers)
    start = machine()
    print(
        f"bench: {start['cores']} cores, load {start['load_average']}, systems: "
        f"{', '.join(systems)}",
        file=sys.stderr,
    )
    for system, reason in skipped.items():
        print(f"bench: SKIPPED {system}: {reason}", file=sys.stderr)

    results: list[dict[str, Any]] = []
    ceiling: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="xqueue-bench-") as tmp:
        workdir = Path(tmp)
        with redis_service() as redis:
            urls = {"redis": f"redis://127.0.0.1:{redis.port}/0"}
            kafka = tansu_service() if "xqueue-kafka" in systems else None
            if kafka is not None:
                kafka.start()
                urls["kafka"] = f"kafka://127.0.0.1:{kafka.port}"
            try:
                for system in systems:
                    if system == "ceiling":
                        print("\n== ceiling", file=sys.stderr, flush=True)
                        ceiling = run_ceiling(urls["redis"], args.n)
                        continue
                    results.append(run_driver(system, args, urls, workdir))
            finally:
                if kafka is not None:
                    kafka.stop()

    rat = report.ratios(results, ceiling)
    text = "\n".join(
        [
            "",
            f"xqueue bench — {start['cores']} cores, Python {start['python']}, "
            f"n={args.n}, round trips={args.latency_n}, load average at start "
            f"{', '.join(f'{x:.2f}' for x in start['load_average'])}",
            "",
            report.table(results),
            "",
            report.ratio_text(rat, ceiling),
            "",
            report.costs_table(results, ceiling),
            *(f"SKIPPED {s}: {r}" for s, r in skipped.items()),
        ]
    )
    print(text)
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(
        json.dumps(
            {
                "machine": start,
                "load_average_end": os.getloadavg(),
                "options": vars(args),
                "results": results,
                "ceiling": ceiling,
                "ratios": rat,
                "skipped": skipped,
                "table": text,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nresults written to {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
