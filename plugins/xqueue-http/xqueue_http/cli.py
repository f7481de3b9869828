"""``xqueue serve`` (API, dashboard and workers in one command) and ``xqueue api``.

The API runs in this process on uvicorn; ``serve`` runs the workers as child
processes (``xqueue worker``), restarted if they crash. Handlers never share
the API's event loop or GIL, so a CPU-bound or crashing handler cannot slow
or take down the API, and each worker is exactly what ``xqueue worker`` runs.
On SIGTERM/SIGINT the API stops taking requests and ends its event streams
while the workers finish their running tasks (one signal each); a second
signal skips the workers' grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
from collections.abc import Callable
from typing import Any

import click
import uvicorn

from xqueue_core import XQueue
from xqueue_core.cli.common import app_argument, backend_args, backend_options, load_app
from xqueue_core.cli.supervisor import Supervisor, child_argv
from xqueue_core.errors import UserError
from xqueue_core.logs import get_logger

from .config import HttpSettings, load_settings
from .server import create_app, wrap

log = get_logger("xqueue.http")


class _Server(uvicorn.Server):
    """uvicorn, with signals left to :func:`run_server` (it must also stop the workers)."""

    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    @contextlib.contextmanager
    def capture_signals(self) -> Any:
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            self._on_started()


def listen(host: str, port: int) -> socket.socket:
    """A listening socket, or a one-line UserError saying why there is none."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.setblocking(False)
    return sock


def urls(host: str, port: int) -> tuple[str, str]:
    """The dashboard and API URLs on this machine (a proxy's prefix is not part of them)."""
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else f"[{host}]" if ":" in host else host
    if host == "::":
        shown = "[::1]"
    base = f"http://{shown}:{port}"
    return f"{base}/", f"{base}/api/v1"


async def run_server(app: XQueue, config: HttpSettings, workers: Supervisor | None = None) -> int:
    """Serve the API (and run ``workers``) until SIGTERM/SIGINT; return the exit code."""
    sock = listen(config.host, config.port)
    port = int(sock.getsockname()[1])
    await app.open()
    try:
        web = create_app(app, config, manage_app=False)
        uv_config = uvicorn.Config(
            wrap(web),
            log_level="warning",
            access_log=config.access_log,
            root_path=config.root_path,
            lifespan="on",
            timeout_graceful_shutdown=5,
            server_header=False,
        )
        worker_job: asyncio.Task[int] | None = None

        def started() -> None:
            nonlocal worker_job
            dashboard, api = urls(config.host, port)
            click.echo(f"xqueue dashboard: {dashboard}  API: {api}  docs: {dashboard}docs")
            if workers is not None:
                worker_job = asyncio.create_task(workers.run_async())
                click.echo(f"xqueue workers: {workers.processes} process(es)")

        server = _Server(uv_config, started)
        loop = asyncio.get_running_loop()
        signals = 0

        def stop(hurry: bool) -> None:
            server.should_exit = True
            web.state.hub.close_streams()
            if hurry:
                server.force_exit = True
            if workers is not None:
                workers.stop(signal.SIGTERM)  # a second one skips their grace period

        def on_signal(signum: int) -> None:
            nonlocal signals
            signals += 1
            log.info("stopping", signal=signal.Signals(signum).name)
            stop(hurry=signals > 1)

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, on_signal, signum)
        if workers is not None:
            workers.on_fatal = lambda: stop(hurry=False)
        try:
            await server.serve(sockets=[sock])
        finally:
            if workers is not None and worker_job is not None:
                if not workers.stopping:
                    workers.stop(signal.SIGTERM)
                code = await worker_job
            else:
                code = 0
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(signum)
        return code
    finally:
        sock.close()
        await app.close()


def run_blocking(app: XQueue, config: HttpSettings, workers: Supervisor | None) -> int:
    """Run :func:`run_server` on uvloop when it is installed."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - Windows
        pass
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(run_server(app, config, workers))


def _server_options(func: Any) -> Any:
    for decorator in reversed(
        [
            click.option(
                "--host", help="Address to bind (default 127.0.0.1, or $XQUEUE_HTTP_HOST)."
            ),
            click.option(
                "--port",
                type=click.IntRange(0, 65535),
                help="Port (default 8080, or $XQUEUE_HTTP_PORT; 0 picks a free one).",
            ),
            click.option(
                "--root-path", help="Path prefix when served under a sub-path by a proxy."
            ),
        ]
    ):
        func = decorator(func)
    return func


@click.command()
@app_argument
@backend_options
@_server_options
@click.option("--concurrency", "-c", type=click.IntRange(min=1), help="Tasks at once per worker.")
@click.option(
    "--processes",
    "-p",
    type=click.IntRange(min=1),
    help="Worker processes to start (default: the 'processes' setting, 1).",
)
def serve(
    app_ref: str | None,
    host: str | None,
    port: int | None,
    root_path: str | None,
    concurrency: int | None,
    processes: int | None,
    **options: Any,
) -> None:
    """Run the REST API, the dashboard and workers for APP in one command."""
    app = load_app(app_ref, options, concurrency=concurrency, processes=processes)
    if not app.handlers:
        raise UserError(
            "no task handlers: give APP (module:attribute) or install a handler package; "
            "'xqueue api' runs the API alone"
        )
    config = load_settings(
        app.settings, overrides={"host": host, "port": port, "root_path": root_path}
    )
    args = backend_args(options)
    if concurrency:
        args += ["--concurrency", str(concurrency)]
    workers = Supervisor(child_argv(app_ref, args), app.settings.processes, log=log)
    raise SystemExit(run_blocking(app, config, workers))


@click.command()
@app_argument
@backend_options
@_server_options
def api(
    app_ref: str | None,
    host: str | None,
    port: int | None,
    root_path: str | None,
    **options: Any,
) -> None:
    """Run the REST API and the dashboard only (workers run elsewhere)."""
    app = load_app(app_ref, options)
    config = load_settings(
        app.settings, overrides={"host": host, "port": port, "root_path": root_path}
    )
    raise SystemExit(run_blocking(app, config, None))
