"""mosquitto for the soak: a child of the soak on a free loopback port, like Redis and
Tansu (``xqueue_core.testing.services``), killed with SIGKILL and started again on the
same port."""

from __future__ import annotations

from xqueue_core.testing.services import (
    ServiceProcess,
    mosquitto_command,
    mosquitto_reason,
    port_open,
    wait_until,
)


def mqtt_reason() -> str | None:
    """Why the MQTT part cannot run (None: mosquitto and xqueue-mqtt are there)."""
    reason = mosquitto_reason()
    if reason is not None:
        return reason
    try:
        import xqueue_mqtt  # noqa: F401
    except ImportError:
        return "xqueue-mqtt is not installed (pip install -e plugins/xqueue-mqtt)"
    return None


def mosquitto_service() -> ServiceProcess:
    """A private mosquitto on a free port, not started.

    No persistence: a kill -9 loses whatever a persistence file had not saved
    anyway, so the retained states of the killed instance are gone after each
    restart (the soak's MQTT check accounts for that). No limit on queued
    messages, so the final reader of every retained status gets them all.
    """
    options = [
        "allow_anonymous true",
        "set_tcp_nodelay true",
        "max_queued_messages 0",
        "max_inflight_messages 100",
    ]
    return ServiceProcess("mosquitto", mosquitto_command(options))


def kill_and_wait_closed(service: ServiceProcess) -> None:
    """SIGKILL a service and wait until its port is free again (for a later start)."""
    service.kill()  # SIGKILL to its group; the reaper forgets it
    wait_until(lambda: not port_open(service.port), 10, f"{service.name} port to close")
