"""The admin's "Export selected as PDF report" end to end (SPEC §10): a real browser, daphne, Redis and RQ worker.
The admin selects users, runs the action, and the download link appears on the export page without a reload."""

import io
import os
import re
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission, User
from playwright.sync_api import expect
from pypdf import PdfReader

from reports.models import Report

pytestmark = pytest.mark.django_db(transaction=True)

EXPORT_DONE_TIMEOUT_MS = 45_000
SCREENSHOT = (
    Path(os.environ.get("REPORTSITE_SCREENSHOTS") or os.environ["REPORTSITE_TEST_RUN_DIR"]) / "admin-export.png"
)


def test_admin_exports_selected_users_and_the_download_appears_live(browser_context, rq_worker):
    # Given a staff auditor who may view users, and some users to review
    auditor = User.objects.create_user("auditor", password="pw-auditor", is_staff=True, first_name="Audrey")
    auditor.user_permissions.add(
        Permission.objects.get(codename="view_user"), Permission.objects.get(codename="view_report")
    )
    for name in ("grace", "linus", "margaret"):
        User.objects.create_user(name, email=f"{name}@example.test", password="secret-password")

    # When she signs in to the admin, selects two users and runs the export action
    page = browser_context.new_page()
    page.goto("/admin/login/?next=/admin/auth/user/")
    page.get_by_label("Username").fill("auditor")
    page.get_by_label("Password").fill("pw-auditor")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Select user to view")).to_be_visible()
    for name in ("grace", "margaret"):
        page.locator("tr", has=page.get_by_role("link", name=name, exact=True)).get_by_role("checkbox").check()
    page.get_by_label("Action:").select_option(label="Export selected as PDF report")
    page.get_by_role("button", name="Go").click()

    # Then she lands on the export's page, which follows the report live until the download appears
    expect(page).to_have_url(re.compile(r"/admin/reports/report/rep_[a-z0-9]+/live/$"))
    page.evaluate("window.__sameDocument = true")
    expect(page.get_by_role("heading", name="Export of 2 rows of auth.user")).to_be_visible()
    expect(page.locator("[data-connection]")).to_have_text("Live")
    expect(page.locator("[data-field=status]")).to_have_text("Succeeded", timeout=EXPORT_DONE_TIMEOUT_MS)
    download_link = page.get_by_role("link", name="Download PDF")
    expect(download_link).to_be_visible()
    expect(page.locator("[data-field=file-info]")).to_contain_text("1 page")
    assert page.evaluate("window.__sameDocument") is True
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # And the download is the PDF of exactly the selected users, without their passwords
    with page.expect_download() as download_info:
        download_link.click()
    content = Path(download_info.value.path()).read_bytes()
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    assert "grace" in text and "margaret" in text and "linus" not in text
    assert "pbkdf2" not in text and "md5$" not in text
    report = Report.objects.get(requested_by=auditor)
    assert report.report_type == "model_table"
    assert report.parameters["model"] == "auth.user"

    # And the admin index shows the queues and today's succeeded export in the chart
    page.goto("/admin/")
    health = page.locator("#queue-health")
    expect(health.locator('tr[data-queue="reports"] [data-count="failed"]')).to_have_text("0")
    expect(health.locator("svg rect title").last).to_have_text(re.compile(r": 1 succeeded$"))
    health.screenshot(path=str(SCREENSHOT.with_name("admin-queue-health.png")))
