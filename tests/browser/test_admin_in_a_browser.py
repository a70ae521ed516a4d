"""Staff's first steps in a real browser: log in, start a sync, watch it finish, find an offer.

Playwright drives Debian's Chromium (`apt-get install chromium`); Playwright's own browser
download is never used. Skipped where either is missing. Screenshots go to artifacts/.
"""

import os
import re
from pathlib import Path

import pytest
from django.conf import settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(settings.BASE_DIR) / "artifacts"
PASSWORD = "a-Long-browser-passw0rd"

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason=f"no Chromium at {CHROMIUM}"),
]


@pytest.fixture
def http_sandbox(mocked_responses):
    """The eMAG sandbox over real HTTP on a free port, reachable from the live server's thread."""
    from emag.sandbox import Sandbox

    sandbox = Sandbox(seed=7, offers=150)
    server = sandbox.serve(host="127.0.0.1", port=0)
    mocked_responses.add_passthru("http://127.0.0.1")
    yield sandbox, f"http://127.0.0.1:{server.server_address[1]}/api-3"
    server.shutdown()
    server.server_close()


@pytest.fixture
def tasks_run_inline(monkeypatch):
    """django-q2's synchronous mode: "Sync now" runs the task in the request, as a worker would."""
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)


@pytest.fixture
def demo_accounts(transactional_db, http_sandbox):
    from emag.models import SellerAccount

    sandbox, base_url = http_sandbox
    for name, kind in (("main", "main"), ("fbe", "fbe")):
        username, password = sandbox.credentials(name)
        account = SellerAccount(name=name, kind=kind, platform="custom", base_url=base_url, username=username)
        account.set_password(password)
        account.save()
    return sandbox


@pytest.fixture
def staff_user(transactional_db, django_user_model):
    return django_user_model.objects.create_superuser(email="staff@example.com", password=PASSWORD)


@pytest.fixture
def browser_page():
    # Playwright's sync API runs an event loop in this thread: the ORM refuses to work under it,
    # so every database row the test needs is made by fixtures that come before this one.
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def test_staff_log_in_sync_both_accounts_and_find_an_offer(
    live_server, demo_accounts, tasks_run_inline, staff_user, browser_page
):
    page = browser_page
    expect = sync_api.expect

    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "staff@example.com")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")

    expect(page.locator(".mf-card[data-account=main]")).to_contain_text("Never synced")
    expect(page.locator(".mf-card[data-account=fbe]")).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "browser-1-dashboard-before-sync.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/emag/selleraccount/")
    page.check("#action-toggle")
    page.select_option("select[name=action]", "sync_now")
    page.click("button[name=index]")
    # The admin's messages capitalise their first letter on screen.
    expect(page.locator("ul.messagelist")).to_contain_text(re.compile(r"main: sync #\d+ queued", re.I))
    expect(page.locator("ul.messagelist")).to_contain_text(re.compile(r"fbe: sync #\d+ queued", re.I))
    page.screenshot(path=str(ARTIFACTS / "browser-2-sync-started.png"), full_page=True)

    page.goto(f"{live_server.url}/admin/")
    for name in ("main", "fbe"):
        card = page.locator(f".mf-card[data-account={name}]")
        expect(card.locator(".mf-last")).to_contain_text("Completed", timeout=30_000)
        expect(card.locator(".mf-figures dd").first).to_have_text("150")
    expect(page.locator(".mf-chart svg").first).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "browser-3-dashboard-synced.png"), full_page=True)

    sku = demo_accounts.catalogue("main")[0]["part_number"]
    page.goto(f"{live_server.url}/admin/emag/offer/")
    page.fill("#searchbar", sku)
    page.press("#searchbar", "Enter")
    result = page.locator("#result_list tbody tr").filter(has_text="main").first
    expect(result).to_contain_text(sku)
    page.screenshot(path=str(ARTIFACTS / "browser-4-offer-search.png"), full_page=True)

    result.locator("th a").first.click()
    expect(page.locator("body")).to_contain_text("Why it is or is not sellable")
    expect(page.locator("pre.mf-json")).to_contain_text(sku)
    page.screenshot(path=str(ARTIFACTS / "browser-5-offer-detail.png"), full_page=True)
