"""The dashboard in a real headless Chromium: submit, watch live, change a limit, cancel.

Debian's chromium driven by playwright (never ``playwright install``). Skipped
only when ``XQUEUE_SKIP_BROWSER=1``; a missing browser otherwise fails the test.
A screenshot is saved as ``test-artifacts/http-dashboard.png``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.http.http_helpers import LIMITS, ROOT, HttpServer

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
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = pytest.mark.skipif(
    os.environ.get("XQUEUE_SKIP_BROWSER") == "1", reason="XQUEUE_SKIP_BROWSER=1"
)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (or XQUEUE_SKIP_BROWSER=1)")
    workdir = tmp_path_factory.mktemp("dashboard")
    server = HttpServer(workdir, "serve", args=["--concurrency", "4"], env=LIMITS).start()
    server.wait_workers()
    try:
        yield server
    finally:
        server.stop()


def test_dashboard_end_to_end(dashboard: HttpServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    base = dashboard.base
    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.on("request", lambda r: requests.append(r.url))
            page.on("response", lambda r: problems.append(r.url) if r.status >= 400 else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.goto(base + "/")
            expect(page.locator("#live")).to_have_text("live", timeout=10_000)
            expect(page.locator("#submit-type option[value=email]")).to_have_count(1)

            # Submit a task and watch it finish, live (the table follows the event stream).
            page.select_option("#submit-type", "email")
            page.fill("#submit-payload", '{"to": "browser@example.com"}')
            page.click("#submit-button")
            link = page.locator("#submit-result a")
            expect(link).to_have_count(1, timeout=10_000)
            task_id = link.get_attribute("data-id")
            assert task_id
            row = page.locator(f'#tasks tr[data-id="{task_id}"]')
            expect(row).to_have_attribute("data-status", "success", timeout=15_000)
            detail = page.locator("#detail")
            expect(detail).to_be_visible()
            expect(detail.locator(".badge.success")).to_have_count(1, timeout=5_000)
            history = page.locator("#detail-history li")
            expect(history.first).to_contain_text("pending")
            expect(history.last).to_contain_text("success", timeout=5_000)
            expect(history.filter(has_text="processing")).not_to_have_count(0)
            expect(page.locator("#cards .card.success .n")).not_to_have_text("0", timeout=5_000)
            expect(page.locator("#chart rect").first).to_be_attached(timeout=5_000)

            # Change a limit.
            page.fill('#concurrency input[data-type="report"]', "1")
            page.click('#concurrency button.set-limit[data-type="report"]')
            expect(page.locator('#concurrency tr[data-type="report"] .usage')).to_have_text(
                "0 / 1", timeout=5_000
            )
            limits = httpx.get(dashboard.api + "/concurrency").json()
            assert limits["report"]["max_concurrency"] == 1

            # Set a rate, and see a bad one refused in one line with nothing changed.
            page.fill('#concurrency input.rate[data-type="report"]', "20/s")
            page.click('#concurrency button.set-rate[data-type="report"]')
            rate_now = page.locator('#concurrency tr[data-type="report"] .rate-now')
            expect(rate_now).to_have_text("20/s", timeout=5_000)
            assert httpx.get(dashboard.api + "/rates").json()["report"]["rate"] == "20/s"
            page.fill('#concurrency input.rate[data-type="report"]', "5/fortnight")
            page.click('#concurrency button.set-rate[data-type="report"]')
            expect(page.locator("#toast")).to_contain_text("unknown period", timeout=5_000)
            # the browser logs the refused request (its URL, then its status): expected
            refused = [p for p in problems if p.endswith("/api/v1/rates") or "status of 422" in p]
            assert len(refused) == 2, problems
            for line in refused:
                problems.remove(line)
            assert httpx.get(dashboard.api + "/rates").json()["report"]["rate"] == "20/s"
            page.click('#concurrency button.clear-rate[data-type="report"]')
            expect(rate_now).to_have_text("no rate", timeout=5_000)

            # Submit a slow task and cancel it while it runs.
            page.select_option("#submit-type", "report")
            page.fill("#submit-payload", '{"seconds": 30}')
            page.click("#submit-button")
            expect(link).not_to_have_attribute("data-id", task_id, timeout=10_000)
            slow_id = link.get_attribute("data-id")
            slow = page.locator(f'#tasks tr[data-id="{slow_id}"]')
            expect(slow).to_have_attribute("data-status", "processing", timeout=15_000)
            expect(page.locator('#concurrency tr[data-type="report"] .usage')).to_have_text(
                "1 / 1", timeout=5_000
            )
            slow.locator("button.cancel").click()
            expect(slow).to_have_attribute("data-status", "canceled", timeout=10_000)
            task = httpx.get(f"{dashboard.api}/tasks/{slow_id}").json()
            assert task["status"] == "canceled"

            # Per-key limits: a type's row opens on its busiest flow keys.
            limit = {"task_type": "report", "max_concurrency": 1, "per_key": True}
            assert httpx.post(dashboard.api + "/concurrency", json=limit).status_code == 200
            expect(page.locator('#concurrency tr[data-type="report"] .usage')).to_have_text(
                "0 / 1 · 1 per key", timeout=5_000
            )
            keyed = [
                httpx.post(
                    dashboard.api + "/tasks",
                    json={"type": "report", "payload": {"seconds": 3}, "key": "acme"},
                ).json()["id"]
                for _ in range(2)
            ]
            page.click('#concurrency button.show-keys[data-type="report"]')
            acme = page.locator(
                '#concurrency tr.keys-row[data-keys-of="report"] tr[data-key="acme"]'
            )
            expect(acme.locator(".usage")).to_have_text("1 / 1", timeout=10_000)
            expect(acme.locator(".waiting")).to_have_text("1", timeout=10_000)
            weight = {"task_type": "report", "key": "acme", "weight": 3}
            assert (
                httpx.post(dashboard.api + "/concurrency/weights", json=weight).status_code == 200
            )
            expect(page.locator('#concurrency tr[data-type="report"] .usage')).to_contain_text(
                "turns acme×3", timeout=5_000
            )
            httpx.post(dashboard.api + "/concurrency/weights", json={**weight, "weight": None})
            for task_id in keyed:
                httpx.delete(f"{dashboard.api}/tasks/{task_id}")
            for change in ({"per_key": True}, {}):
                body = {"task_type": "report", "max_concurrency": None, **change}
                assert httpx.post(dashboard.api + "/concurrency", json=body).status_code == 200

            # Schedules: add one in the form, pause, resume, run it now, edit, delete.
            page.select_option("#schedule-type", "report")
            page.fill("#schedule-name", "heartbeat")
            page.fill("#schedule-when", "every 60")
            page.fill("#schedule-payload", '{"seconds": 0}')
            page.click("#schedule-save")
            row = page.locator('#schedules tr[data-name="heartbeat"]')
            expect(row.locator(".when")).to_have_text("every 60s", timeout=5_000)
            row.locator("button.pause").click()
            expect(row).to_have_attribute("data-enabled", "false", timeout=5_000)
            expect(row.locator(".next")).to_have_text("paused")
            row.locator("button.resume").click()
            expect(row).to_have_attribute("data-enabled", "true", timeout=5_000)
            row.locator("button.run").click()
            expect(page.locator("#toast")).to_contain_text(
                "schedule heartbeat: task", timeout=5_000
            )
            tasks = httpx.get(dashboard.api + "/tasks", params={"type": "report"}).json()["tasks"]
            assert [t["schedule"] for t in tasks].count("heartbeat") == 1  # run now: one task
            row.locator("button.edit").click()
            page.fill("#schedule-when", "0 3 * * *")
            page.fill("#schedule-tz", "Europe/Berlin")
            page.click("#schedule-save")
            expect(row.locator(".when")).to_have_text(
                "cron 0 3 * * * (Europe/Berlin)", timeout=5_000
            )
            page.fill("#schedule-name", "bad")
            page.fill("#schedule-when", "61 * * * *")
            page.click("#schedule-save")
            expect(page.locator("#toast")).to_contain_text("does not parse", timeout=5_000)
            refused = [
                p for p in problems if p.endswith("/api/v1/schedules") or "status of 422" in p
            ]
            assert len(refused) == 2, problems
            for line in refused:
                problems.remove(line)
            page.once("dialog", lambda dialog: dialog.accept())
            row.locator("button.delete").click()
            expect(row).to_have_count(0, timeout=5_000)
            assert httpx.get(dashboard.api + "/schedules").json()["schedules"] == []

            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "http-dashboard.png"), full_page=True)

            # The docs page lists every operation and can call one.
            page.goto(base + "/docs")
            expect(page.locator("details.op")).to_have_count(27, timeout=10_000)
            page.locator("#stats summary").click()
            page.locator("#stats button.primary").click()
            expect(page.locator("#stats pre")).to_contain_text("200", timeout=5_000)
        finally:
            browser.close()
    assert problems == []
    assert all(url.startswith(base) for url in requests), [
        u for u in requests if not u.startswith(base)
    ]  # nothing from a CDN
