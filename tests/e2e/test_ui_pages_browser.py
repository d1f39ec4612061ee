"""The provider's pages in a real Airflow UI, driven by headless Chromium.

A DemoStack (scheduler, dag-processor, triggerer, API server) runs ``crm_contacts_sync``, whose
sandbox data dead-letters some contacts; the browser logs in through Airflow's login page, finds
those entries on the DLQ page, discards one with its button and opens the health page.

Then, over a seeded 30-day history with planted anomalies, the health and dead-letter pages are
opened the way people open them: inside Airflow's frame (Plugins -> Reliable API), at 1,280 px,
in Airflow's light and dark themes. Screenshots go to ``$UI_SCREENSHOTS`` (default
``build/ui-screenshots``), the test's artifacts.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from demo.stack import DemoStack
from reliable_api.deadletter.queue import DeadLetterQueue

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.timeout(900)]

CHROMIUM = "/usr/bin/chromium"
#: Chromium without a sandbox (root in a container), GPU, or any call home.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def chromium() -> str:
    """The system's Chromium; CI installs it (.ci/run), elsewhere its absence skips the test."""
    found = shutil.which(CHROMIUM) or shutil.which("chromium")
    if found is None:
        reason = "needs Chromium at /usr/bin/chromium (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}: CI must not skip the browser test")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoStack]:
    home = tmp_path_factory.mktemp("ui_pages") / "airflow"
    with DemoStack(home=home, airflow_port=free_port(), sandbox_port=free_port()) as running:
        yield running


def test_log_in_find_dead_letters_discard_one_and_see_health(stack: DemoStack, chromium: str) -> None:
    from playwright.sync_api import expect, sync_playwright

    from reliable_api.state.engine import make_engine

    assert stack.run_dag("crm_contacts_sync", timeout=600) == "success"
    engine = make_engine(f"sqlite:///{stack.home / 'reliable_api' / 'state.db'}")
    queue = DeadLetterQueue(engine)
    newest = queue.find(integration="crm_contacts", statuses=["open"], limit=1)[0]
    user, password = stack.login()
    with stack.api_client() as api:
        (plugin,) = [p for p in api.get("/plugins").json()["plugins"] if p["name"] == "reliable_api"]
    assert {v["href"] for v in plugin["external_views"]} == {"/reliable-api/dlq", "/reliable-api/health"}

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            page.goto(f"{stack.airflow_url}/reliable-api/dlq")
            assert "Not authenticated" in page.content()  # no cookie yet: the page refuses

            page.goto(f"{stack.airflow_url}/")
            page.wait_for_url("**/auth/login**")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)

            page.goto(f"{stack.airflow_url}/reliable-api/dlq?integration=crm_contacts")
            first_row = page.locator("table.entries tr[data-entry]").first
            expect(first_row).to_have_attribute("data-entry", str(newest.id))
            expect(page.locator("table.counts")).to_contain_text("crm_contacts")

            first_row.locator("a").first.click()
            page.wait_for_url(f"**/reliable-api/dlq/{newest.id}")
            expect(page.locator("#entry-status")).to_have_text("open")
            expect(page.locator("a.dag-run")).to_contain_text("crm_contacts_sync")
            page.get_by_role("button", name="Discard").click()

            expect(page.locator("#entry-status")).to_have_text("discarded")
            expect(page.locator("p.notice")).to_contain_text("Discarded")
            expect(page.locator("table.fields")).to_contain_text(f"by {user}")

            page.goto(f"{stack.airflow_url}/reliable-api/health")
            expect(page.locator('tr[data-integration="crm_contacts"]')).to_be_visible()
        finally:
            browser.close()

    discarded = queue.get(newest.id)
    assert (discarded.status, discarded.status_changed_by) == ("discarded", user)
    # A request without the browser's cookie still gets nothing.
    assert httpx.get(f"{stack.airflow_url}/reliable-api/api/dlq", timeout=10).status_code == 401
    engine.dispose()


#: Integrations of the seeded history: (synthetic seed, planted kind, chart it is marked on).
SEEDED = {"orders_feed": (3, "frequency_spike", "runs"), "erp_sync": (11, "slow", "duration")}
MEASURES = ["runs", "success_rate", "duration", "volume", "throttling", "dead_letters", "quota"]
SCREENSHOTS = Path(os.environ.get("UI_SCREENSHOTS", Path(__file__).parents[2] / "build" / "ui-screenshots"))


def seed_history(stack: DemoStack) -> None:
    """30 days of two integrations ending now, each with a planted anomaly, and a retired one;
    230 dead letters with three reasons."""
    from datetime import timedelta

    from reliable_api.deadletter.store import DeadLetterStore
    from reliable_api.exceptions import RecordRejected
    from reliable_api.monitoring.synthetic import generate, record
    from reliable_api.state.engine import make_engine
    from reliable_api.state.schema import utcnow
    from reliable_api.state.task import TaskIdentity

    engine = make_engine(f"sqlite:///{stack.home / 'reliable_api' / 'state.db'}")
    for name, (seed, planted, _) in SEEDED.items():
        history = generate(seed, planted)
        record(engine, history, as_integration=name, shift=utcnow() - history.now)
    old = generate(5, None)
    record(engine, old, as_integration="legacy_feed", shift=utcnow() - old.now - timedelta(days=12))
    messages = [
        ("normalization failed: email: invalid_email (no @ in it)", None),
        ("normalization failed: phone: phone_too_short", None),
        ('HTTP 422 from POST /contacts: {"errors": [{"field": "company", "message": "too long"}]}', 422),
    ]
    task = TaskIdentity(dag_id="orders_feed_sync", task_id="load", run_id="manual__seeded", try_number=1)
    failures = [
        (
            f"order-{n}",
            {"id": n, "email": f"user{n}.example.com"},
            RecordRejected(messages[n % 3][0], status=messages[n % 3][1]),
        )
        for n in range(230)
    ]
    DeadLetterStore(engine).add_many("orders_feed", failures, task)
    engine.dispose()


def in_frame(page: Any, route: str) -> Any:
    """Open Airflow's page of the plugin view ``route`` and return the frame showing our page."""
    page.goto(route)
    page.wait_for_selector("iframe", timeout=60_000)
    frame = page.frame_locator("iframe").first
    frame.locator("h1").first.wait_for(timeout=60_000)
    return page.frames[-1]


def no_horizontal_scroll(target: Any) -> bool:
    return bool(
        target.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    )


@pytest.fixture(scope="module")
def seeded(stack: DemoStack) -> DemoStack:
    """The stack with the seeded history, once for both themes."""
    seed_history(stack)
    return stack


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_health_and_dead_letters_inside_airflow_at_1280_px(
    seeded: DemoStack, chromium: str, theme: str
) -> None:
    from playwright.sync_api import expect, sync_playwright

    stack = seeded
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    user, password = stack.login()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.add_init_script(f"window.localStorage.setItem('theme', '{theme}')")  # Airflow's own key
            page = context.new_page()
            page.goto(f"{stack.airflow_url}/")
            page.wait_for_url("**/auth/login**")
            page.fill("input[name=username]", user)
            page.fill("input[name=password]", password)
            page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/auth/login" not in url, timeout=60_000)

            frame = in_frame(page, f"{stack.airflow_url}/plugin/reliable-api-health")
            assert frame.evaluate("document.documentElement.getAttribute('data-theme')") == theme
            assert frame.locator("nav.top").count() == 0  # Airflow's nav only
            expect(frame.locator('tr[data-integration="orders_feed"] .badge-anomalous').first).to_be_visible()
            expect(frame.locator('tr[data-retired="legacy_feed"]')).to_be_visible()
            assert (no_horizontal_scroll(frame), no_horizontal_scroll(page)) == (True, True)
            page.screenshot(path=SCREENSHOTS / f"health-overview-{theme}.png", full_page=True)

            for name, (_, planted, measure) in SEEDED.items():
                frame.locator(f'tr[data-integration="{name}"] a').first.click()
                frame.wait_for_selector("svg.chart")
                charts = frame.locator("svg.chart")
                assert [
                    charts.nth(i).get_attribute("data-measure") for i in range(charts.count())
                ] == MEASURES
                for i in range(charts.count()):
                    assert charts.nth(i).locator("circle.point").count() > 0, MEASURES[i]
                marked = frame.locator(
                    f'svg.chart[data-measure="{measure}"] g.anomaly-mark[data-kind="{planted}"]'
                )
                assert marked.count() >= 1
                assert frame.evaluate("getComputedStyle(document.body).backgroundColor") == (
                    "rgb(21, 26, 36)" if theme == "dark" else "rgb(255, 255, 255)"
                )
                assert (no_horizontal_scroll(frame), no_horizontal_scroll(page)) == (True, True)
                page.screenshot(path=SCREENSHOTS / f"health-{name}-{theme}.png", full_page=True)
                frame.goto(f"{stack.airflow_url}/reliable-api/health")

            frame = in_frame(page, f"{stack.airflow_url}/plugin/reliable-api-dlq")
            frame.goto(f"{stack.airflow_url}/reliable-api/dlq?integration=orders_feed")
            reasons = frame.locator("table.reasons tr[data-reason]")
            assert [reasons.nth(i).get_attribute("data-reason") for i in range(reasons.count())] == [
                "invalid_email",
                "phone_too_short",
                "HTTP 422",
            ]
            expect(frame.locator("table.entries td.field").first).not_to_be_empty()
            assert (no_horizontal_scroll(frame), no_horizontal_scroll(page)) == (True, True)
            page.screenshot(path=SCREENSHOTS / f"dlq-{theme}.png", full_page=True)
        finally:
            browser.close()
