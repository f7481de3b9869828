"""The example broker configuration works as documented: both listeners, persistence."""

from __future__ import annotations

import re
from pathlib import Path

from tests.mqtt.mqtt_helpers import make_app, subscribe
from xqueue_core.testing.services import ServiceProcess, free_port

CONF = Path(__file__).resolve().parents[2] / "examples" / "mqtt" / "mosquitto.conf"


async def test_example_config_keeps_retained_states_across_a_restart(sqlite_url, mqtt_plugin_only):
    tcp, ws = free_port(), free_port()

    def command(port: int, workdir: Path) -> list[str]:
        text = CONF.read_text().replace("listener 1883 ", f"listener {tcp} ")
        text = text.replace("listener 9001 ", f"listener {ws} ")
        text = re.sub(
            r"^persistence_file .*$", f"persistence_file {workdir}/state.db", text, flags=re.M
        )
        (workdir / "mosquitto.conf").write_text(text + "\nuser root\n")
        return ["mosquitto", "-c", str(workdir / "mosquitto.conf")]

    with ServiceProcess("mosquitto-example", command, port=tcp, extra_ports=[ws]) as broker:
        app = make_app(sqlite_url, f"ws://127.0.0.1:{ws}?prefix=ex", mqtt_plugin_only)

        @app.task("job")
        async def job(payload):
            return 1

        async with app.worker():
            task = await app.submit("job", {})
            await app.wait(task.id, timeout=10)
            await app.notifiers[0].ping()
            async with subscribe(tcp, [f"ex/tasks/{task.id}/status"]) as rec:
                await rec.wait_for(lambda: rec.statuses(task.id)[-1:] == ["success"], "success")
        broker.stop()  # SIGTERM: mosquitto saves its state
        broker.start()
        async with subscribe(tcp, [f"ex/tasks/{task.id}/status"]) as after:
            await after.wait_for(lambda: after.messages, "the retained state")
    assert after.messages[0].retain and after.statuses(task.id) == ["success"]
