"""The dashboard in a real headless Chromium: submit, watch live, change a limit, cancel;
a workflow's graph, live, and its cancel; pause and resume a type from its row; a
task's page by URL, live; a phone-width window; dead tasks grouped by error and replayed
(one, a group); the live workers.

Debian's chromium driven by playwright (never ``playwright install``). Skipped
only when ``XQUEUE_SKIP_BROWSER=1``; a missing browser otherwise fails the test.
Screenshots are saved in ``test-artifacts/``: ``http-dashboard.png``, and
``http-workflow.png`` and ``http-workflow-collapsed.png`` (the workflow view);
``dashboard-types-paused.png``, ``dashboard-task-page.png``, ``dashboard-phone.png``,
``dashboard-dead-view.png`` and ``dashboard-workers.png``, which are copied to
``bench/results/`` too.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.http.http_helpers import LIMITS, ROOT, HttpServer, descendants
from xqueue_core.testing.services import wait_until

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
RESULTS = ROOT / "bench" / "results"
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(
    os.environ.get("XQUEUE_SKIP_BROWSER") == "1", reason="XQUEUE_SKIP_BROWSER=1"
)


@pytest.fixture(scope="module")
def dashboard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HttpServer]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (or XQUEUE_SKIP_BROWSER=1)")
    workdir = tmp_path_factory.mktemp("dashboard")
    server = HttpServer(
        workdir, "serve", app="http_browser_app:app", args=["--concurrency", "4"], env=LIMITS
    ).start()
    server.wait_workers()
    try:
        yield server
    finally:
        server.stop()


def test_dashboard_end_to_end(dashboard: HttpServer) -> None:
    from playwright.sync_api import expect

    base = dashboard.base
    with browser_page(base) as (page, problems):
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
        acme = page.locator('#concurrency tr.keys-row[data-keys-of="report"] tr[data-key="acme"]')
        expect(acme.locator(".usage")).to_have_text("1 / 1", timeout=10_000)
        expect(acme.locator(".waiting")).to_have_text("1", timeout=10_000)
        weight = {"task_type": "report", "key": "acme", "weight": 3}
        assert httpx.post(dashboard.api + "/concurrency/weights", json=weight).status_code == 200
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
        expect(page.locator("#toast")).to_contain_text("schedule heartbeat: task", timeout=5_000)
        tasks = httpx.get(dashboard.api + "/tasks", params={"type": "report"}).json()["tasks"]
        assert [t["schedule"] for t in tasks].count("heartbeat") == 1  # run now: one task
        row.locator("button.edit").click()
        page.fill("#schedule-when", "0 3 * * *")
        page.fill("#schedule-tz", "Europe/Berlin")
        page.click("#schedule-save")
        expect(row.locator(".when")).to_have_text("cron 0 3 * * * (Europe/Berlin)", timeout=5_000)
        page.fill("#schedule-name", "bad")
        page.fill("#schedule-when", "61 * * * *")
        page.click("#schedule-save")
        expect(page.locator("#toast")).to_contain_text("does not parse", timeout=5_000)
        refused = [p for p in problems if p.endswith("/api/v1/schedules") or "status of 422" in p]
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
        expect(page.locator("details.op")).to_have_count(32, timeout=10_000)
        page.locator("#stats summary").click()
        page.locator("#stats button.primary").click()
        expect(page.locator("#stats pre")).to_contain_text("200", timeout=5_000)


# Counts the dashboard's reads of a workflow (it calls fetch(url, {method, ...})).
COUNT_WORKFLOW_READS = """
window.workflowReads = 0;
const fetchOf = window.fetch.bind(window);
window.fetch = (url, init) => {
  if (String(url).includes("/workflows/") && (!init || (init.method || "GET") === "GET")) {
    window.workflowReads += 1;
  }
  return fetchOf(url, init);
};
"""


FILL_OF_NODE = (
    "id => getComputedStyle(document.querySelector(`#workflow-graph [data-id='${id}'] rect`)).fill"
)
COLOUR_OF_CARD = (
    "s => getComputedStyle(document.querySelector(`#cards .card.${s}`)).borderLeftColor"
)


@contextmanager
def browser_page(base: str, viewport: dict[str, int] | None = None) -> Iterator[Any]:
    """A page of a fresh headless Chromium and the list of its problems; on the way
    out, no page error, no console error, no failed request and nothing fetched from
    anywhere but ``base`` (no CDN)."""
    from playwright.sync_api import sync_playwright

    requests: list[str] = []
    problems: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = browser.new_page(viewport=viewport or {"width": 1400, "height": 1000})
            page.on("request", lambda r: requests.append(r.url))
            page.on("response", lambda r: problems.append(r.url) if r.status >= 400 else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.add_init_script(COUNT_WORKFLOW_READS)
            yield page, problems  # a test may remove the problems it expects
        finally:
            browser.close()
    assert problems == []
    assert all(url.startswith(base) for url in requests), [
        u for u in requests if not u.startswith(base)
    ]


def new_workflow(api: str, nodes: dict[str, Any], edges: dict[str, list[str]]) -> dict[str, Any]:
    response = httpx.post(api + "/workflows", json={"nodes": nodes, "edges": edges})
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_workflow_view(dashboard: HttpServer) -> None:
    """A DAG drawn by layers with its statuses, the callback going from waiting to
    success live (in place, no reload, no re-read); a second workflow reached from
    one of its tasks, linked, and cancelled from the view; a big one collapsed."""
    from playwright.sync_api import expect

    base, api = dashboard.base, dashboard.api
    gate = dashboard.workdir / "gate-one"
    one = new_workflow(
        api,
        {
            "slow": {"type": "gate", "payload": {"flag": str(gate)}},
            "quick": {"type": "email", "payload": {"to": "a@example.com"}},
            "callback": {"type": "email"},
        },
        {"callback": ["slow", "quick"]},
    )
    ids = one["task_ids"]
    with browser_page(base) as (page, _):
        page.goto(f"{base}/#workflow={one['id']}")
        expect(page.locator("#live")).to_have_text("live", timeout=10_000)
        view = page.locator("#workflow")
        expect(view).to_be_visible(timeout=10_000)
        expect(page.locator("#workflow-id")).to_have_text(one["id"])

        def node(name: str, of: dict[str, str] = ids) -> Any:
            return view.locator(f'g.wf-node[data-id="{of[name]}"]')

        expect(view.locator("g.wf-node")).to_have_count(3)
        expect(node("slow")).to_have_attribute("data-status", "processing", timeout=15_000)
        expect(node("quick")).to_have_attribute("data-status", "success", timeout=15_000)
        expect(node("callback")).to_have_attribute("data-status", "waiting")
        layers = {name: node(name).get_attribute("data-layer") for name in ids}
        assert layers == {"slow": "0", "quick": "0", "callback": "1"}
        for name, task_type in (("slow", "gate"), ("quick", "email"), ("callback", "email")):
            expect(node(name)).to_contain_text(task_type)
            expect(node(name)).to_contain_text(ids[name][-8:])
        edges = view.locator("path.wf-edge")
        expect(edges).to_have_count(2)
        drawn = {(e.get_attribute("data-from"), e.get_attribute("data-to")) for e in edges.all()}
        assert drawn == {(ids["slow"], ids["callback"]), (ids["quick"], ids["callback"])}
        boxes = {name: node(name).bounding_box() for name in ids}
        assert all(boxes.values())
        assert boxes["callback"]["x"] > boxes["slow"]["x"] + boxes["slow"]["width"]
        assert boxes["slow"]["x"] == boxes["quick"]["x"]

        # The status colours are the status cards' colours (each read in one step of the
        # page: the cards are redrawn every second, a located one may be gone already).
        def fill(name: str) -> str:
            return str(page.evaluate(FILL_OF_NODE, ids[name]))

        def card(status: str) -> str:
            return str(page.evaluate(COLOUR_OF_CARD, status))

        colours = {"slow": "processing", "quick": "success", "callback": "waiting"}
        assert {name: fill(name) for name in ids} == {n: card(s) for n, s in colours.items()}
        assert len(set(map(fill, ids))) == 3
        status, counts = page.locator("#workflow-status"), page.locator("#workflow-counts")
        expect(status).to_have_text("running")
        expect(counts).to_have_text("waiting 1 · processing 1 · success 1")
        expect(page.locator("#workflow-cancel")).to_be_visible()

        # Open the gate: the callback runs, drawn live in the same element.
        page.wait_for_function("window.workflowReads >= 2")  # opened, and stream connected
        reads = page.evaluate("window.workflowReads")
        page.evaluate("window.notReloaded = true")
        callback = node("callback").element_handle()
        gate.touch()
        expect(node("slow")).to_have_attribute("data-status", "success", timeout=15_000)
        expect(node("callback")).to_have_attribute("data-status", "success", timeout=15_000)
        assert callback.get_attribute("data-status") == "success"
        assert fill("callback") == card("success")
        expect(status).to_have_text("success")
        expect(counts).to_have_text("success 3")
        expect(page.locator("#workflow-cancel")).to_be_hidden()
        assert page.evaluate("window.notReloaded === true")
        assert page.evaluate("window.workflowReads") == reads  # events only, no re-read
        ARTIFACTS.mkdir(exist_ok=True)
        view.screenshot(path=str(ARTIFACTS / "http-workflow.png"))

        # A second workflow, reached from one of its tasks; the URL links to both.
        never = dashboard.workdir / "gate-never"
        two = new_workflow(
            api,
            {
                "first": {"type": "gate", "payload": {"flag": str(never), "timeout": 60}},
                "then": {"type": "email"},
            },
            {"then": ["first"]},
        )
        ids2 = two["task_ids"]
        row = page.locator(f'#tasks tr[data-id="{ids2["first"]}"]')
        expect(row).to_have_count(1, timeout=10_000)
        row.click()
        link = page.locator("#detail a.workflow-link")
        expect(link).to_have_attribute("data-workflow", two["id"], timeout=5_000)
        link.click()
        expect(page.locator("#workflow-id")).to_have_text(two["id"], timeout=5_000)
        assert page.url.endswith(f"#workflow={two['id']}&task={ids2['first']}"), page.url
        page.reload()
        expect(page.locator("#live")).to_have_text("live", timeout=10_000)
        expect(page.locator("#workflow-id")).to_have_text(two["id"], timeout=5_000)
        expect(page.locator("#detail-id")).to_have_text(ids2["first"], timeout=5_000)
        expect(node("first", ids2)).to_have_attribute("data-status", "processing", timeout=15_000)
        expect(node("then", ids2)).to_have_attribute("data-status", "waiting")
        expect(view.locator("g.wf-node")).to_have_count(2)
        page.once("dialog", lambda dialog: dialog.accept())
        page.click("#workflow-cancel")
        for name in ids2:
            expect(node(name, ids2)).to_have_attribute("data-status", "canceled", timeout=10_000)
        expect(status).to_have_text("canceled")
        expect(page.locator("#workflow-cancel")).to_be_hidden()
        assert httpx.get(f"{api}/workflows/{two['id']}").json()["status"] == "canceled"

        # Past 200 members each layer is one box per type, with counts by status. The
        # page gets its read of this chord only once the chord has ended in the store:
        # the events that came meanwhile must still count (they are kept while a read
        # is on its way).
        members = {f"m{i}": {"type": "email"} for i in range(250)}
        chord = new_workflow(
            api, {**members, "callback": {"type": "email"}}, {"callback": list(members)}
        )
        reads: list[dict[str, Any]] = []

        def ended() -> bool:
            return bool(httpx.get(f"{api}/workflows/{chord['id']}").json()["status"] != "running")

        def hold(route: Any) -> None:
            response = route.fetch()  # the server reads the chord now
            reads.append(response.json())
            wait_until(ended, 30, "the chord to end")
            route.fulfill(response=response)  # and the page sees that read only now

        page.route(f"**/api/v1/workflows/{chord['id']}", hold)
        page.evaluate(f"location.hash = 'workflow={chord['id']}'")
        expect(page.locator("#workflow-id")).to_have_text(chord["id"], timeout=40_000)
        assert len(reads) == 1 and reads[0]["status"] == "running", reads
        expect(view.locator("g.wf-node")).to_have_count(0)
        groups = view.locator("g.wf-group")
        expect(groups).to_have_count(2)
        expect(page.locator("#workflow-note")).to_contain_text("collapsed")
        fan_out = view.locator('g.wf-group[data-layer="0"]')
        expect(fan_out).to_have_attribute("data-size", "250")
        expect(fan_out).to_contain_text("email × 250")
        expect(view.locator("path.wf-edge")).to_have_count(1)
        expect(fan_out).to_have_attribute("data-status", "success", timeout=5_000)
        expect(fan_out.locator("text.wf-counts")).to_have_text("success 250")
        fan_in = view.locator('g.wf-group[data-layer="1"]')
        expect(fan_in).to_have_attribute("data-status", "success")
        expect(status).to_have_text("success")
        expect(counts).to_have_text("success 251")
        view.screenshot(path=str(ARTIFACTS / "http-workflow-collapsed.png"))


def keep_screenshot(target: Any, name: str, **options: Any) -> None:
    """A screenshot of a page or an element in ``test-artifacts/``, copied to
    ``bench/results/`` (neither is committed)."""
    ARTIFACTS.mkdir(exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    target.screenshot(path=str(ARTIFACTS / name), **options)
    shutil.copyfile(ARTIFACTS / name, RESULTS / name)


def submit(api: str, task_type: str, payload: dict[str, Any]) -> str:
    response = httpx.post(api + "/tasks", json={"type": task_type, "payload": payload})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def status_of(api: str, task_id: str) -> str:
    return str(httpx.get(f"{api}/tasks/{task_id}").json()["status"])


def wait_status(api: str, task_id: str, status: str, timeout: float = 15) -> None:
    wait_until(lambda: status_of(api, task_id) == status, timeout, f"{task_id} to be {status}")


def pending_of(api: str, task_type: str) -> int:
    page = httpx.get(api + "/tasks", params={"status": "pending", "type": task_type, "limit": 1000})
    return len(page.json()["tasks"])


NO_PAGE_SCROLL = "document.documentElement.scrollWidth <= window.innerWidth"


def test_pause_toggle(dashboard: HttpServer) -> None:
    """Pause a type from its row: its tasks stay pending while another type's finish,
    the row says paused (and counts them); resume from the row: they finish."""
    from playwright.sync_api import expect

    base, api = dashboard.base, dashboard.api
    with browser_page(base) as (page, _):
        page.goto(base + "/")
        expect(page.locator("#live")).to_have_text("live", timeout=10_000)
        row = page.locator('#concurrency tr[data-type="report"]')
        toggle = row.locator("button.pause-type")
        expect(row).to_have_attribute("data-paused", "false", timeout=10_000)
        expect(toggle).to_have_text("pause")
        before = pending_of(api, "report")
        expect(row.locator(".pending")).to_have_text(str(before), timeout=5_000)
        try:
            toggle.click()
            expect(row).to_have_attribute("data-paused", "true", timeout=5_000)
            expect(row.locator(".state .flag")).to_have_text("paused")
            expect(toggle).to_have_text("resume")
            assert httpx.get(api + "/concurrency").json()["report"]["paused"] is True
            assert "report" in httpx.get(api + "/stats").json()["paused"]

            held = [submit(api, "report", {"seconds": 0}) for _ in range(3)]
            flowing = [submit(api, "email", {"to": f"flow{i}@example.com"}) for i in range(3)]
            for task_id in flowing:
                wait_status(api, task_id, "success")
                expect(page.locator(f'#tasks tr[data-id="{task_id}"]')).to_have_attribute(
                    "data-status", "success", timeout=10_000
                )
            assert [status_of(api, t) for t in held] == ["pending"] * 3
            for task_id in held:
                expect(page.locator(f'#tasks tr[data-id="{task_id}"]')).to_have_attribute(
                    "data-status", "pending"
                )
            expect(row.locator(".pending")).to_have_text(str(before + 3), timeout=5_000)
            expect(row).to_have_attribute("data-paused", "true")  # still, after refreshes
            other = page.locator('#concurrency tr[data-type="email"]')
            expect(other).to_have_attribute("data-paused", "false")
            keep_screenshot(page.locator("#types-panel"), "dashboard-types-paused.png")

            toggle.click()
            expect(row).to_have_attribute("data-paused", "false", timeout=5_000)
            expect(row.locator(".state .flag")).to_have_text("active")
            expect(toggle).to_have_text("pause")
            for task_id in held:
                expect(page.locator(f'#tasks tr[data-id="{task_id}"]')).to_have_attribute(
                    "data-status", "success", timeout=15_000
                )
            assert [status_of(api, t) for t in held] == ["success"] * 3
            assert httpx.get(api + "/concurrency").json()["report"]["paused"] is False
            expect(row.locator(".pending")).to_have_text(str(before), timeout=5_000)
        finally:
            httpx.post(api + "/concurrency/report/resume")


def test_task_page_by_url(dashboard: HttpServer) -> None:
    """``#task=ID`` in a fresh page shows a finished task's payload, result, fields
    and history; another ID in the hash shows that task (a failed one: its error); a
    running task's page goes to success live, without a reload."""
    from playwright.sync_api import expect

    base, api = dashboard.base, dashboard.api
    done = submit(api, "email", {"to": "page@example.com"})
    failed = submit(api, "broken", {"why": "to fail"})
    flag = dashboard.workdir / "gate-task-page"
    running = submit(api, "gate", {"flag": str(flag)})
    wait_status(api, done, "success")
    wait_status(api, failed, "failed")
    wait_status(api, running, "processing")
    with browser_page(base) as (page, _):
        page.goto(f"{base}/#task={done}")
        detail = page.locator("#detail")
        expect(detail).to_be_visible(timeout=10_000)
        expect(page.locator("#detail-id")).to_have_text(done)
        expect(page.locator("#detail-status .badge")).to_have_text("success")
        expect(page.locator("#detail-type")).to_have_text("email")
        expect(page.locator("#detail-payload")).to_contain_text('"to": "page@example.com"')
        expect(page.locator("#detail-result")).to_contain_text('"sent_to": "page@example.com"')
        expect(page.locator("#detail-error-box")).to_be_hidden()
        expect(detail.locator('dd[data-field="completed_at"]')).not_to_be_empty()
        expect(detail.locator('dd[data-field="worker_id"]')).not_to_be_empty()
        history = page.locator("#detail-history li")
        expect(history.first).to_have_attribute("data-status", "pending")
        expect(history.last).to_have_attribute("data-status", "success")
        expect(history.filter(has_text="processing")).not_to_have_count(0)
        expect(page.locator("#detail-link")).to_have_attribute("href", f"#task={done}")
        expect(page.locator("#detail-cancel")).to_be_hidden()
        assert done in page.title()
        keep_screenshot(page, "dashboard-task-page.png")

        # Another task by changing the hash: a failed one shows its error.
        page.evaluate(f"location.hash = 'task={failed}'")
        expect(page.locator("#detail-id")).to_have_text(failed, timeout=5_000)
        expect(page.locator("#detail-status .badge")).to_have_text("failed")
        expect(page.locator("#detail-error")).to_contain_text("this handler always fails")
        expect(page.locator("#detail-payload")).to_contain_text('"why": "to fail"')
        expect(history.last).to_have_attribute("data-status", "failed")

        # A running task, its URL loaded afresh: it goes to success live.
        page.evaluate(f"location.hash = 'task={running}'")
        expect(page.locator("#detail-id")).to_have_text(running, timeout=5_000)
        page.reload()
        expect(page.locator("#live")).to_have_text("live", timeout=10_000)
        expect(page.locator("#detail-id")).to_have_text(running, timeout=5_000)
        expect(page.locator("#detail-status .badge")).to_have_text("processing")
        expect(page.locator("#detail-result")).to_have_text("not yet")
        expect(page.locator("#detail-cancel")).to_be_visible()
        expect(history.last).to_have_attribute("data-status", "processing")
        page.evaluate("window.notReloaded = true")
        flag.touch()
        expect(page.locator("#detail-status .badge")).to_have_text("success", timeout=15_000)
        expect(page.locator("#detail-result")).to_have_text('"opened"')
        expect(history.last).to_have_attribute("data-status", "success")
        expect(page.locator("#detail-cancel")).to_be_hidden()
        assert page.evaluate("window.notReloaded === true")
        assert page.url.endswith(f"#task={running}"), page.url


def test_phone_width(dashboard: HttpServer) -> None:
    """At 390 × 844 the page never scrolls sideways (tables scroll in their own box,
    the task types stack one card per type); a type pauses and resumes from its card;
    the task page fits."""
    from playwright.sync_api import expect

    base, api = dashboard.base, dashboard.api
    done = submit(api, "email", {"to": "phone@example.com"})
    wait_status(api, done, "success")
    with browser_page(base, viewport=PHONE) as (page, _):
        page.goto(base + "/")
        expect(page.locator("#live")).to_have_text("live", timeout=10_000)
        row = page.locator('#concurrency tr[data-type="primes"]')
        expect(row).to_have_attribute("data-paused", "false", timeout=10_000)
        expect(page.locator(f'#tasks tr[data-id="{done}"]')).to_be_attached(timeout=10_000)
        expect(page.locator("#schedules")).to_be_attached()
        assert page.evaluate("window.innerWidth") == PHONE["width"]
        assert page.evaluate(NO_PAGE_SCROLL), page.evaluate("document.documentElement.scrollWidth")

        # The task types: stacked, each control on the screen, pause and resume work.
        expect(page.locator("#concurrency > thead")).to_be_hidden()
        toggle = row.locator("button.pause-type")
        for control in (toggle, row.locator("button.set-limit"), row.locator("button.set-rate")):
            box = control.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        try:
            toggle.click()
            expect(row).to_have_attribute("data-paused", "true", timeout=5_000)
            assert httpx.get(api + "/concurrency").json()["primes"]["paused"] is True
            toggle.click()
            expect(row).to_have_attribute("data-paused", "false", timeout=5_000)
            assert httpx.get(api + "/concurrency").json()["primes"]["paused"] is False
        finally:
            httpx.post(api + "/concurrency/primes/resume")

        # The task list scrolls inside its box; the page still does not.
        tasks_box = page.locator("#tasks").locator("xpath=..")
        assert tasks_box.evaluate("b => getComputedStyle(b).overflowX") == "auto"

        # The task page fits the width.
        page.evaluate(f"location.hash = 'task={done}'")
        detail = page.locator("#detail")
        expect(page.locator("#detail-id")).to_have_text(done, timeout=5_000)
        expect(page.locator("#detail-result")).to_contain_text("phone@example.com")
        expect(page.locator("#detail-history li").last).to_have_attribute("data-status", "success")
        for part in (detail, page.locator("#detail-payload"), page.locator("#detail-history")):
            box = part.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        assert page.evaluate(NO_PAGE_SCROLL), page.evaluate("document.documentElement.scrollWidth")
        # The dead tasks and the workers: stacked cards, inside the width.
        expect(page.locator("#workers tbody tr[data-pid]").first).to_be_attached(timeout=10_000)
        expect(page.locator("#dead > thead")).to_be_hidden()
        for part in (page.locator("#dead-panel"), page.locator("#workers-panel")):
            box = part.bounding_box()
            assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
        assert page.evaluate(NO_PAGE_SCROLL), page.evaluate("document.documentElement.scrollWidth")
        keep_screenshot(page, "dashboard-phone.png", full_page=True)


def dead_by_line(api: str, line: str) -> list[dict[str, Any]]:
    """The failed tasks whose error's first line is ``line`` (the dead view's group)."""
    page = httpx.get(api + "/tasks", params={"status": "failed", "limit": 1000}).json()
    return [t for t in page["tasks"] if (t["error"] or "").split("\n")[0].strip() == line]


def test_dead_view_replay(dashboard: HttpServer) -> None:
    """Dead tasks grouped by their error's first line, with their count; one replayed
    from its task page (replay_of / replayed_by, then "replayed as"), the rest of the
    group by "replay these" after a confirmation, each once; a second click: none."""
    from playwright.sync_api import expect

    base, api = dashboard.base, dashboard.api
    run = uuid.uuid4().hex
    dead = [submit(api, "broken", {"run": run, "n": i}) for i in range(3)]
    alive_id = submit(api, "email", {"to": f"{run}@example.com"})
    for task_id in dead:
        wait_status(api, task_id, "failed", 30)  # after its retries, on a busy machine too
    wait_status(api, alive_id, "success", 30)
    error = httpx.get(f"{api}/tasks/{dead[0]}").json()["error"]
    line = error.split("\n")[0].strip()
    assert "this handler always fails" in line, error
    # The replays stay pending (broken paused): they cannot die and join the group.
    assert httpx.post(api + "/concurrency/broken/pause").status_code == 200
    made: list[str] = []
    try:
        with browser_page(base) as (page, _):
            page.goto(base + "/")
            expect(page.locator("#live")).to_have_text("live", timeout=10_000)
            group = page.locator("#dead tr.dead-group").filter(has_text=line)
            expect(group).to_have_count(1, timeout=10_000)
            in_group = dead_by_line(api, line)
            assert {t["id"] for t in in_group} >= set(dead)
            expect(group).to_have_attribute("data-count", str(len(in_group)), timeout=5_000)
            expect(group.locator(".types")).to_have_text("broken")
            assert alive_id not in page.locator("#dead").inner_text()

            # Open the group: its tasks link to their pages.
            group.locator("button.show-tasks").click()
            tasks_row = page.locator("#dead tr.dead-tasks").filter(has_text=dead[0])
            expect(tasks_row).to_be_visible(timeout=5_000)
            for task_id in dead:
                expect(tasks_row.locator(f'li[data-id="{task_id}"]')).to_have_count(1)
            keep_screenshot(page.locator("#dead-panel"), "dashboard-dead-view.png")
            tasks_row.locator(f'li[data-id="{dead[0]}"] a.task-link[data-id="{dead[0]}"]').click()
            expect(page.locator("#detail-id")).to_have_text(dead[0], timeout=5_000)
            assert page.url.endswith(f"#task={dead[0]}"), page.url

            # Replay it from its page.
            button = page.locator("#detail-replay-button")
            expect(button).to_be_visible(timeout=5_000)
            button.click()
            replay = page.locator("#detail-replay")
            expect(replay).to_contain_text("replayed as", timeout=5_000)
            first = httpx.get(f"{api}/tasks/{dead[0]}").json()
            assert first["replayed_by"], first
            made.append(first["replayed_by"])
            expect(replay.locator("a.task-link")).to_have_attribute("data-id", first["replayed_by"])
            expect(page.locator("#detail-replay-button")).to_have_count(0)
            expect(page.locator('#detail dd[data-field="replayed_by"] a')).to_have_attribute(
                "data-id", first["replayed_by"]
            )
            again = httpx.get(f"{api}/tasks/{first['replayed_by']}").json()
            assert again["replay_of"] == dead[0] and again["type"] == "broken"
            assert again["payload"] == {"run": run, "n": 0}
            # The replay's page links back to the dead task.
            page.locator('#detail dd[data-field="replayed_by"] a').click()
            expect(page.locator("#detail-id")).to_have_text(first["replayed_by"], timeout=5_000)
            expect(page.locator('#detail dd[data-field="replay_of"] a')).to_have_attribute(
                "data-id", dead[0]
            )
            expect(page.locator("#detail-replay")).to_be_empty()

            # The group: "replay these", confirmed, replays the others of the group once.
            left = [t["id"] for t in dead_by_line(api, line) if not t["replayed_by"]]
            assert dead[0] not in left and set(dead[1:]) <= set(left)
            dialogs: list[str] = []

            def accept(dialog: Any) -> None:
                dialogs.append(dialog.message)
                dialog.accept()

            page.once("dialog", accept)
            expect(group.locator(".count")).to_contain_text("1 replayed", timeout=5_000)
            group.locator("button.replay-group").click()
            note = page.locator("#dead-note")
            expect(note).to_have_attribute("data-replayed", str(len(left)), timeout=10_000)
            expect(note).to_have_text(re.compile(rf"^replayed {len(left)}\b"))
            assert len(dialogs) == 1 and f"Replay {len(left)} dead task" in dialogs[0], dialogs
            after = {t["id"]: t for t in dead_by_line(api, line)}
            for task_id in dead:
                assert after[task_id]["replayed_by"], after[task_id]
            assert after[dead[0]]["replayed_by"] == first["replayed_by"]  # once
            news = [after[t]["replayed_by"] for t in left]
            made.extend(news)
            assert len(set(news)) == len(left)
            for new_id in news:
                assert httpx.get(f"{api}/tasks/{new_id}").json()["status"] == "pending"
            expect(group.locator("button.replay-group")).to_be_disabled(timeout=5_000)
            expect(tasks_row.locator(f'li[data-id="{dead[1]}"] .replayed a')).to_have_attribute(
                "data-id", after[dead[1]]["replayed_by"], timeout=5_000
            )

            # A second time, from the whole view: nothing new.
            page.on("dialog", lambda dialog: dialog.dismiss())
            page.evaluate("document.querySelector('#dead-note').dataset.replayed = ''")
            page.select_option("#dead-type", "broken")
            expect(group).to_have_attribute("data-count", str(len(after)), timeout=5_000)
            page.click("#dead-replay-all")
            expect(note).to_have_attribute("data-replayed", "0", timeout=10_000)
            expect(note).to_contain_text("replayed 0")
            final = {t["id"]: t["replayed_by"] for t in dead_by_line(api, line)}
            assert final == {k: v["replayed_by"] for k, v in after.items()}
    finally:
        for task_id in made:
            httpx.delete(f"{api}/tasks/{task_id}")
        httpx.post(api + "/concurrency/broken/resume")


def test_workers_panel(dashboard: HttpServer) -> None:
    """The workers panel lists the server's live workers as GET /workers does: host,
    pid, types (email among them), concurrency; a running task shows under its worker."""
    from playwright.sync_api import expect

    base, api = dashboard.base, dashboard.api
    workers = httpx.get(api + "/workers").json()["workers"]
    assert workers
    flag = dashboard.workdir / f"gate-workers-{uuid.uuid4().hex}"
    running = submit(api, "gate", {"flag": str(flag)})
    try:
        wait_status(api, running, "processing")
        with browser_page(base) as (page, _):
            page.goto(base + "/")
            expect(page.locator("#live")).to_have_text("live", timeout=10_000)
            pids = dashboard_pids(dashboard)
            rows = page.locator("#workers tbody tr[data-pid]")
            expect(rows).to_have_count(len(workers), timeout=10_000)
            for w in workers:
                row = page.locator(f'#workers tr[data-id="{w["id"]}"]')
                expect(row.locator(".host")).to_have_text(w["host"])
                expect(row.locator(".pid")).to_have_text(str(w["pid"]))
                expect(row.locator(".types")).to_contain_text("email")
                expect(row.locator(".concurrency")).to_have_text(str(w["concurrency"]))
                expect(row.locator(".last-seen")).to_contain_text("ago")
                assert w["pid"] in pids and w["host"] == socket.gethostname(), w
            # The running gate task appears under its worker (within a report or two).
            owner = page.locator(f"#workers tr.running-row a.task-link[data-id='{running}']")
            button = page.locator("#workers tbody tr[data-pid]").filter(
                has=page.locator("button.show-running:not([disabled])")
            )
            expect(button).not_to_have_count(0, timeout=15_000)
            holder = next(
                w["id"]
                for w in httpx.get(api + "/workers").json()["workers"]
                if running in w["running"]
            )
            page.locator(f'#workers button.show-running[data-worker="{holder}"]').click()
            expect(owner).to_be_visible(timeout=5_000)
            keep_screenshot(page.locator("#workers-panel"), "dashboard-workers.png")
            owner.click()
            expect(page.locator("#detail-id")).to_have_text(running, timeout=5_000)
    finally:
        flag.touch()
        wait_status(api, running, "success")


def dashboard_pids(server: HttpServer) -> set[int]:
    """The server's process and every process below it."""
    assert server.proc is not None
    return {server.proc.pid, *descendants(server.proc.pid)}
