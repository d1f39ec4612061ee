"""The provider's pages in a real Airflow UI, driven by headless Chromium.

A DemoStack (scheduler, dag-processor, triggerer, API server) runs ``crm_contacts_sync``, whose
sandbox data dead-letters some contacts; the browser logs in through Airflow's login page, finds
those entries on the DLQ page, discards one with its button and opens the health page.
"""

from __future__ import annotations

import os
import shutil
import socket
from collections.abc import Iterator

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
