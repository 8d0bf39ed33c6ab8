"""The schedules pages in headless Chromium (SPEC §18): a staff user creates a weekly schedule and sees its next run
times, first in the form as they type the cron (asked of the API), then on the schedule's page."""

import re

import pytest
from django.contrib.auth.models import Permission, User
from playwright.sync_api import expect

from schedules.models import Schedule

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_staff_user_schedules_a_report_and_sees_its_next_runs(browser_context):
    ops = User.objects.create_user("ops", password="pw-ops", is_staff=True, email="ops@example.com")
    ops.user_permissions.add(Permission.objects.get(codename="view_user", content_type__app_label="auth"))
    page = browser_context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("ops")
    page.get_by_label("Password").fill("pw-ops")
    page.get_by_role("button", name="Sign in").click()

    page.get_by_role("link", name="Schedules").click()
    page.get_by_role("link", name="New schedule").click()
    page.get_by_label("Name").fill("Monday access review")
    page.get_by_label("Report type").select_option("user_access")
    page.get_by_label("Timezone").fill("Europe/Berlin")
    page.get_by_label("Cron").fill("30 6 * * 2")
    upcoming = page.locator("#upcoming li")
    # Asked of the API as the cron changes: five Tuesdays at 06:30
    expect(upcoming).to_have_count(5)
    expect(upcoming.first).to_contain_text(re.compile(r"Tue.*06:30"))
    page.get_by_label("Cron").fill("0 7 * * 1")
    expect(upcoming.first).to_contain_text(re.compile(r"Mon.*07:00"))
    page.get_by_label("Recipients").fill("ops@example.com")
    page.get_by_role("button", name="Save schedule").click()

    expect(page.get_by_role("heading", name="Monday access review")).to_be_visible()
    expect(upcoming).to_have_count(5)
    for index in range(5):
        expect(upcoming.nth(index)).to_contain_text(re.compile(r"^Mon .* 07:00 CES?T$"))
    schedule = Schedule.objects.get(owner=ops)
    assert (schedule.cron, schedule.timezone, schedule.recipients) == (
        "0 7 * * 1",
        "Europe/Berlin",
        ["ops@example.com"],
    )
