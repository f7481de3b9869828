"""Benchmark driver for one peer (runs in the peers' own virtualenv).

``python driver.py --system celery ...``: imports ``<system>_peer.py`` from this
directory, which defines both the peer's app (what its workers import) and
``make_adapter(args)``, then runs the shared workloads of ``harness/common.py``.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "harness")]

from common import driver_options, run_system, write_result  # noqa: E402


def main() -> None:
    args, opts = driver_options()
    os.environ["BENCH_REDIS_URL"] = args.redis_url  # read by the peer's app module
    module = importlib.import_module(f"{args.system}_peer")
    adapter = module.make_adapter(args)
    adapter.redis_url = args.redis_url
    write_result(args.out, run_system(adapter, opts))


if __name__ == "__main__":
    main()
