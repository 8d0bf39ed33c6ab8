"""The staff UI end to end (SPEC §9): a real browser, daphne, Redis and RQ worker. A report requested in one tab
appears on My reports in another, finishes and can be downloaded there without a reload: over the WebSocket, and
by polling while the WebSocket is blocked."""

import os
import re
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import BrowserContext, Page, expect

from reports import services
from reports.models import Report

pytestmark = pytest.mark.django_db(transaction=True)

# A report goes from requested to succeeded in a second or two; polling may add up to one backoff step.
REPORT_DONE_TIMEOUT_MS = 45_000
# Into the test run's folder; `REPORTSITE_SCREENSHOTS=docs/img make test` refreshes the one in the README.
SCREENSHOT = Path(os.environ.get("REPORTSITE_SCREENSHOTS") or os.environ["REPORTSITE_TEST_RUN_DIR"]) / "my-reports.png"

# Replaces window.WebSocket with one that fails at once, like a proxy that drops the upgrade, until the page sets
# window.__blockSockets = false. window.__socketAttempts counts the page's attempts to connect.
BLOCK_WEBSOCKETS = """
(() => {
  const RealWebSocket = window.WebSocket;
  window.__blockSockets = true;
  window.__socketAttempts = 0;
  window.WebSocket = function (url, protocols) {
    window.__socketAttempts += 1;
    if (!window.__blockSockets) return new RealWebSocket(url, protocols);
    const failing = new EventTarget();
    failing.send = () => {};
    failing.close = () => {};
    setTimeout(() => {
      failing.dispatchEvent(new Event("error"));
      failing.dispatchEvent(new CloseEvent("close", { code: 1006 }));
    }, 0);
    return failing;
  };
})();
"""


# Lets a test drop the page's open sockets (window.__dropSockets()) and refuse new ones while window.__blockSockets
# is true, like a network that goes away for a while; window.__socketUrls lists every URL the page connected to.
DROPPABLE_WEBSOCKETS = """
(() => {
  const RealWebSocket = window.WebSocket;
  const open = [];
  window.__blockSockets = false;
  window.__socketUrls = [];
  window.__dropSockets = () => open.splice(0).forEach((socket) => socket.close(4000));
  window.WebSocket = function (url, protocols) {
    window.__socketUrls.push(url);
    if (window.__blockSockets) {
      const failing = new EventTarget();
      failing.send = () => {};
      failing.close = () => {};
      setTimeout(() => failing.dispatchEvent(new CloseEvent("close", { code: 1006 })), 0);
      return failing;
    }
    const socket = new RealWebSocket(url, protocols);
    open.push(socket);
    return socket;
  };
})();
"""


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(f"pw-{username}")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My reports")).to_be_visible()
    expect(page).to_have_url(re.compile(r"^http://127\.0\.0\.1:\d+/$"))


def watch_navigations(page: Page) -> list[str]:
    """URLs the page navigates to from now on, plus a marker that a reload would wipe out."""
    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url) if frame == page.main_frame else None)
    page.evaluate("window.__sameDocument = true")
    return navigations


def request_user_access_report(context: BrowserContext) -> tuple[Page, str]:
    """Request a user_access report through the form, in a tab of its own; returns that tab and the report id."""
    page = context.new_page()
    page.goto("/reports/new/")
    page.get_by_role("link", name="Choose User access review").click()
    expect(page.get_by_label("Include inactive users")).to_be_checked()
    page.get_by_label("Only staff users").check()
    page.get_by_role("button", name="Request report").click()
    expect(page).to_have_url(re.compile(r"/reports/rep_[A-Za-z0-9]+/$"))
    return page, page.url.rstrip("/").rsplit("/", 1)[1]


def expect_downloadable_pdf(page: Page, link, report_id: str) -> None:
    with page.expect_download(timeout=15_000) as download_info:
        link.click()
    download = download_info.value
    assert download.suggested_filename == f"user_access-{report_id}.pdf"
    assert Path(download.path()).read_bytes().startswith(b"%PDF")


def test_report_requested_in_another_tab_goes_live_to_download_without_reload(browser_context, make_user, rq_worker):
    # Given Ada, signed in through the form, on My reports with the WebSocket connected
    make_user("ada", first_name="Ada", last_name="Lovelace", is_staff=True)  # the web UI is for staff
    my_reports = browser_context.new_page()
    log_in(my_reports, "ada")
    indicator = my_reports.locator("[data-connection]")
    expect(indicator).to_have_text("Live")
    navigations = watch_navigations(my_reports)

    # When she requests a report through the form in another tab
    report_page, report_id = request_user_access_report(browser_context)

    # Then its own page follows it to succeeded, with a download
    expect(report_page.locator("[data-field=status]")).to_have_text("Succeeded", timeout=REPORT_DONE_TIMEOUT_MS)
    expect(report_page.get_by_role("link", name="Download PDF")).to_be_visible()
    expect(report_page.get_by_role("button", name="Cancel report")).to_be_hidden()

    # And My reports took the new row in, saw it succeed and offers the download, all without reloading
    row = my_reports.locator(f'tr[data-report-id="{report_id}"]')
    expect(row.locator("[data-field=status]")).to_have_text("Succeeded", timeout=REPORT_DONE_TIMEOUT_MS)
    expect(row.get_by_role("link", name="User access review")).to_have_attribute("href", f"/reports/{report_id}/")
    download = row.get_by_role("link", name="Download")
    expect(download).to_be_visible()
    assert my_reports.evaluate("window.__sameDocument") is True
    assert navigations == []
    expect(indicator).to_have_text("Live")
    assert Report.objects.get(pk=report_id).parameters == {"include_inactive": True, "staff_only": True}

    # And the download is the PDF
    expect_downloadable_pdf(my_reports, download, report_id)


def test_with_the_websocket_blocked_polling_delivers_the_result_until_the_socket_is_back(
    browser_context, make_user, rq_worker
):
    # Given a browser whose WebSocket connections fail (a proxy that drops them)
    browser_context.add_init_script(BLOCK_WEBSOCKETS)
    make_user("ada", is_staff=True)
    my_reports = browser_context.new_page()
    api_polls: list[str] = []
    my_reports.on(
        "request", lambda request: api_polls.append(request.url) if "/api/v1/reports?" in request.url else None
    )
    log_in(my_reports, "ada")

    # Then the page says it fell back to polling, and keeps trying the socket
    indicator = my_reports.locator("[data-connection]")
    expect(indicator).to_have_text("Reconnecting… (polling)")
    expect(indicator).to_have_attribute("data-state", "polling")
    my_reports.wait_for_function("window.__socketAttempts >= 2", timeout=15_000)
    navigations = watch_navigations(my_reports)

    # When a report is requested in another tab (whose socket is blocked too)
    report_page, report_id = request_user_access_report(browser_context)

    # Then polling brings its page and My reports to succeeded, with the download, without a reload
    expect(report_page.locator("[data-field=status]")).to_have_text("Succeeded", timeout=REPORT_DONE_TIMEOUT_MS)
    expect(report_page.get_by_role("link", name="Download PDF")).to_be_visible()
    row = my_reports.locator(f'tr[data-report-id="{report_id}"]')
    expect(row.locator("[data-field=status]")).to_have_text("Succeeded", timeout=REPORT_DONE_TIMEOUT_MS)
    download = row.get_by_role("link", name="Download")
    expect(download).to_be_visible()
    expect(indicator).to_have_text("Reconnecting… (polling)")
    assert api_polls and all("page_size=25" in url for url in api_polls)
    assert my_reports.evaluate("window.__sameDocument") is True
    assert navigations == []
    expect_downloadable_pdf(my_reports, download, report_id)

    # When the socket gets through again, the page is live again
    my_reports.evaluate("window.__blockSockets = false")
    expect(indicator).to_have_text("Live", timeout=45_000)
    assert navigations == []


def test_a_socket_dropped_while_reports_finish_catches_up_when_back_without_polling(
    browser_context, make_user, rq_worker
):
    # Given My reports, live
    browser_context.add_init_script(DROPPABLE_WEBSOCKETS)
    ada = make_user("ada", is_staff=True)
    my_reports = browser_context.new_page()
    api_polls: list[str] = []
    my_reports.on("request", lambda request: api_polls.append(request.url) if "/api/v1/" in request.url else None)
    log_in(my_reports, "ada")
    indicator = my_reports.locator("[data-connection]")
    expect(indicator).to_have_text("Live")
    first = services.report_create(user=ada, report_type="user_access", parameters={})
    expect(my_reports.locator(f'tr[data-report-id="{first.id}"] [data-field=status]')).to_have_text("Succeeded")
    navigations = watch_navigations(my_reports)
    polls_before = len(api_polls)

    # When the network drops the socket and refuses new ones while two more reports are requested and finish
    my_reports.evaluate("window.__blockSockets = true; window.__dropSockets()")
    expect(indicator).to_have_text("Reconnecting…")
    missed = [services.report_create(user=ada, report_type="user_access", parameters={}).id for _ in range(2)]
    deadline = time.monotonic() + 30
    while Report.objects.filter(pk__in=missed, status="succeeded").count() < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    my_reports.evaluate("window.__blockSockets = false")

    # Then, live again, the page shows both reports finished, with no reload and without having polled
    expect(indicator).to_have_text("Live", timeout=20_000)
    for report_id in missed:
        row = my_reports.locator(f'tr[data-report-id="{report_id}"]')
        expect(row.locator("[data-field=status]")).to_have_text("Succeeded")
        expect(row.get_by_role("link", name="Download")).to_be_visible()
    assert api_polls[polls_before:] == []
    assert navigations == []
    assert my_reports.evaluate("window.__sameDocument") is True
    # And it resumed after the last event it had seen
    assert "?after=evt_" in my_reports.evaluate("window.__socketUrls[window.__socketUrls.length - 1]")


def _age(report_id: str, *, minutes: float, ran_seconds: float | None = None) -> None:
    """Move a report back in time, so that the screenshot shows a believable history."""
    report = Report.objects.get(pk=report_id)
    created = timezone.now() - timedelta(minutes=minutes)
    fields = {"created_at": created}
    if report.started_at:
        fields["started_at"] = created + timedelta(seconds=1.2)
    if report.finished_at and ran_seconds is not None:
        fields["finished_at"] = fields["started_at"] + timedelta(seconds=ran_seconds)
    Report.objects.filter(pk=report.pk).update(**fields)


def test_screenshot_of_my_reports_in_various_states(browser_context, make_user):
    # Given Ada, staff, with reports in every state (built in this process; no worker needed)
    ada = make_user(
        "ada", perms=("auth.view_user", "reports.view_report"), first_name="Ada", last_name="Lovelace", is_staff=True
    )

    def create(report_type: str, parameters: dict | None = None) -> Report:
        return services.report_create(user=ada, report_type=report_type, parameters=parameters or {})

    old_review = create("user_access", {"staff_only": True})
    services.report_render(old_review.id)
    _age(old_review.id, minutes=60 * 26, ran_seconds=2.4)
    activity = create("report_activity")
    services.report_render(activity.id)
    _age(activity.id, minutes=95, ran_seconds=74)
    lost = create("user_access")
    Report.objects.filter(pk=lost.pk).update(status="running", started_at=timezone.now())
    services.report_fail(lost.id, code="worker_lost", message="The worker building this report stopped.")
    _age(lost.id, minutes=41, ran_seconds=312)
    cancelled = services.report_cancel(
        report=create("report_activity", {"start_date": str(timezone.localdate() - timedelta(days=90))})
    )
    _age(cancelled.id, minutes=12)
    running = create("report_activity")
    Report.objects.filter(pk=running.pk).update(status="running", started_at=timezone.now(), progress=60)
    _age(running.id, minutes=0.4)
    create("user_access", {"include_inactive": False})

    # When she opens My reports
    page = browser_context.new_page()
    log_in(page, "ada")
    expect(page.locator("[data-connection]")).to_have_text("Live")

    # Then every state shows, with a progress bar for the running one and downloads for the succeeded ones
    statuses = page.locator("tbody [data-field=status]")
    expect(statuses).to_have_text(["Queued", "Running", "Cancelled", "Failed", "Succeeded", "Succeeded"])
    expect(page.locator("tbody [data-field=progress-bar]:visible")).to_have_count(1)
    expect(page.locator("tbody").get_by_role("link", name="Download")).to_have_count(2)
    expect(page.get_by_text("The worker building this report stopped.")).to_be_visible()
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.read_bytes().startswith(b"\x89PNG")
