"""One worker process of ``xqueue worker --processes N`` (and of ``xqueue serve``).

``python -m xqueue_core.cli.worker_process [APP] [options]`` takes the options of
``xqueue worker`` and runs one worker, as ``xqueue worker`` does, but without click
and the other commands: each of the N processes is that much smaller. Logging
comes from ``XQUEUE_LOG_LEVEL`` / ``XQUEUE_LOG_FORMAT``, which the parent sets.
"""

# ruff: noqa: E402
from __future__ import annotations

from ..logs import import_structlog

import_structlog()  # before anything else imports it, so it leaves rich out: see there

import argparse
import asyncio
import sys
import traceback
from collections.abc import Sequence

from ..errors import BackendError, UserError
from .apps import load_app, setup_logging_from, worker_types
from .supervisor import run_worker


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is smaller than 1")
    return value


def parser() -> argparse.ArgumentParser:
    """The options of ``xqueue worker`` (``--processes`` is accepted and ignored)."""
    p = argparse.ArgumentParser(prog="xqueue worker (process)", allow_abbrev=False)
    p.add_argument("app_ref", nargs="?", metavar="APP")
    p.add_argument("--broker")
    p.add_argument("--store")
    p.add_argument("--notify", action="append")
    p.add_argument("--config", dest="config_file")
    p.add_argument("--concurrency", "-c", type=_positive)
    p.add_argument("--processes", "-p", type=_positive)
    p.add_argument("--types")
    return p


def main(argv: Sequence[str] | None = None) -> None:
    """Run one worker until SIGTERM/SIGINT; exit 2 on a user error, as ``xqueue`` does."""
    args = parser().parse_args(argv)
    try:
        setup_logging_from(None, None)
        app = load_app(args.app_ref, vars(args), concurrency=args.concurrency, processes=1)
        task_types = worker_types(app, args.types)
        asyncio.run(run_worker(app, args.concurrency, task_types))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except BackendError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except Exception:  # a bug, not a user mistake: show everything
        traceback.print_exc()
        sys.exit(1)


if __name__ == "__main__":
    main()
