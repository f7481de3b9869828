"""The example page in a real headless Chromium: live status over MQTT-over-WebSockets.

Needs Debian's chromium and the MQTT.js bundle vendored by
``plugins/xqueue-mqtt/setup-tests.sh`` (run here when missing). Skipped only
when ``XQUEUE_SKIP_BROWSER=1``; otherwise a missing piece fails the test.
"""

from __future__ import annotations

import asyncio
import functools
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.mqtt.mqtt_helpers import Mosquitto, make_app

ROOT = Path(__file__).resolve().parents[2]
PAGE_DIR = ROOT / "examples" / "mqtt"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    os.environ.get("XQUEUE_SKIP_BROWSER") == "1", reason="XQUEUE_SKIP_BROWSER=1"
)


@pytest.fixture(scope="module")
def page_server() -> Iterator[str]:
    """Serve examples/mqtt/ (with the vendored MQTT.js) on a free loopback port."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (or XQUEUE_SKIP_BROWSER=1)")
    if not (PAGE_DIR / "vendor" / "mqtt.min.js").exists():
        setup = ROOT / "plugins" / "xqueue-mqtt" / "setup-tests.sh"
        done = subprocess.run([str(setup)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            pytest.fail(f"vendoring MQTT.js failed: {done.stderr.strip()[-500:]}")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=PAGE_DIR))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()


async def test_page_follows_a_task_through_a_broker_restart(
    page_server, mosquitto: Mosquitto, sqlite_url, mqtt_plugin_only
):
    from playwright.async_api import async_playwright, expect

    app = make_app(sqlite_url, mosquitto.url("prefix=b&reconnect_max=0.3"), mqtt_plugin_only)
    release = asyncio.Event()

    @app.task("render")
    async def render(payload, ctx):
        ctx.progress(0.5)
        await release.wait()
        return {"pages": 3}

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1200, "height": 500})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(f"{page_server}?broker=ws://127.0.0.1:{mosquitto.ws_port}&prefix=b")
            conn = page.locator("#conn")
            await expect(conn).to_have_attribute("data-state", "connected", timeout=10_000)

            async with app:
                task = await app.submit("render", {"doc": 1})
                row = page.locator(f'tr[data-task-id="{task.id}"]')
                await expect(row).to_have_attribute("data-status", "pending", timeout=10_000)

                async with app.worker(concurrency=1):
                    await expect(row).to_have_attribute("data-status", "processing")
                    await expect(row).to_have_attribute("data-progress", "0.5")

                    await asyncio.to_thread(mosquitto.restart)  # SIGKILL, then start again
                    await expect(conn).to_have_attribute("data-connects", "2", timeout=15_000)
                    await expect(conn).to_have_attribute("data-state", "connected")

                    release.set()
                    assert (await app.wait(task.id, timeout=10)).status == "success"
                    await expect(row).to_have_attribute("data-status", "success", timeout=10_000)
                    await expect(row).to_have_attribute(
                        "data-history", "pending,processing,success"
                    )
                    await expect(row.locator(".status")).to_have_text("success")
                    ARTIFACTS.mkdir(exist_ok=True)
                    await page.screenshot(path=str(ARTIFACTS / "mqtt-browser.png"), full_page=True)

                    # One task only: the retained state arrives without any new event.
                    single = await browser.new_page()
                    await single.goto(
                        f"{page_server}?broker=ws://127.0.0.1:{mosquitto.ws_port}"
                        f"&prefix=b&task={task.id}"
                    )
                    one = single.locator("tbody#tasks tr")
                    await expect(one).to_have_count(1, timeout=10_000)
                    await expect(one).to_have_attribute("data-status", "success")
                    presence = page.locator("tbody#workers tr[data-state=online]")
                    await expect(presence).to_contain_text("render")
            assert errors == []
        finally:
            await browser.close()
