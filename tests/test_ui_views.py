"""The staff web UI (SPEC §9) through Django's test client: pages, the schema-built form, cancel, isolation, CSRF."""

import re

import pytest
from django.test import Client

from reports import services
from reports.forms import ReportParametersForm
from reports.models import Report, ReportStatus, ReportTypeConfig
from reports.parameters import ParameterError
from reports.registry import BuildContext, ReportType
from reports.selectors import AvailableReportType
from tests.conftest import field_errors
from tests.testapp.report_types import TEST_PERMISSION


@pytest.fixture
def make_user(make_user):
    """The web UI is for staff: everyone who uses it in these tests is (tests/test_abuse_limits.py has the rest)."""

    def make(username: str = "ada", **fields):
        fields.setdefault("is_staff", True)
        return make_user(username, **fields)

    return make


@pytest.fixture
def browser(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _report(user, report_type: str = "user_access", **fields) -> Report:
    return Report.objects.create(requested_by=user, report_type=report_type, **fields)


# --- Login --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/reports/new/", "/reports/new/user_access/", "/reports/rep_x/"])
def test_pages_redirect_to_login_when_signed_out(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


def test_login_form_signs_in_and_lands_on_my_reports(client, user):
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'name="username"' in page.content

    response = client.post("/accounts/login/", {"username": "ada", "password": "pw-ada"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").status_code == 200


def test_logout_is_a_post_and_ends_the_session(browser):
    response = browser.post("/accounts/logout/")

    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/"
    assert browser.get("/").status_code == 302


def test_layout_has_navigation_user_name_and_admin_link(browser):
    html = browser.get("/").content.decode()
    assert 'href="/reports/new/"' in html
    assert 'href="/api/docs"' in html
    assert "Ada Lovelace" in html
    assert 'action="/accounts/logout/"' in html
    assert 'href="/admin/"' in html


# --- My reports ---------------------------------------------------------------------------------------------------


def test_my_reports_lists_only_own_reports_newest_first(browser, user, make_user):
    older = _report(user, status=ReportStatus.FAILED, error_message="Disk <full>")
    newer = _report(user, status=ReportStatus.RUNNING, progress=40)
    theirs = _report(make_user("bob"))

    response = browser.get("/")

    html = response.content.decode()
    assert response.status_code == 200
    assert theirs.id not in html
    assert html.index(newer.id) < html.index(older.id)
    assert "User access review" in html
    assert 'value="40"' in html
    # The failure's message is shown, escaped
    assert "Disk &lt;full&gt;" in html
    assert "Disk <full>" not in html


def test_my_reports_shows_download_only_for_succeeded_reports(browser, user):
    done = _report(user, status=ReportStatus.SUCCEEDED, file="reports/x.pdf", progress=100)
    queued = _report(user)

    html = browser.get("/").content.decode()

    assert re.search(rf'href="/api/v1/reports/{done.id}/file"\s*>Download<', html)
    assert re.search(rf'href="/api/v1/reports/{queued.id}/file"\s*hidden>Download<', html)


def test_my_reports_is_paginated_by_25(browser, user):
    for _ in range(27):
        _report(user)

    first = browser.get("/").content.decode()
    second = browser.get("/?page=2").content.decode()

    row = re.compile(r'<tr data-report-id="rep_')
    assert len(row.findall(first)) == 25
    assert len(row.findall(second)) == 2
    assert "Page 1 of 2" in first
    # Only the first page takes in new reports live
    assert "data-insert-new" in first
    assert "data-insert-new" not in second


def test_my_reports_wires_the_live_script(browser):
    html = browser.get("/").content.decode()

    assert 'data-live-socket="/ws/reports/"' in html
    assert 'data-live-poll="/api/v1/reports?page_size=25"' in html
    assert 'id="report-row-template"' in html
    assert '<script id="report-type-titles" type="application/json">' in html
    assert "/static/reports/live.js" in html


# --- New report ---------------------------------------------------------------------------------------------------


def test_type_picker_lists_only_permitted_types(browser):
    html = browser.get("/reports/new/").content.decode()

    assert "User access review" in html
    assert 'href="/reports/new/user_access/"' in html
    # Ada lacks reports.view_report and the test types' permission
    assert "/reports/new/report_activity/" not in html
    assert "/reports/new/test_slow/" not in html


def test_boolean_schema_fields_are_checkboxes_with_titles_and_defaults(browser):
    html = browser.get("/reports/new/user_access/").content.decode()

    assert re.search(r'<input type="checkbox" name="include_inactive"[^>]*checked', html)
    assert re.search(r'<input type="checkbox" name="staff_only"(?![^>]*checked)[^>]*>', html)
    assert "Include inactive users" in html
    assert "Only staff users" in html


def test_date_schema_fields_are_date_inputs(make_user):
    client = Client()
    client.force_login(make_user("rita", perms=("reports.view_report",)))

    html = client.get("/reports/new/report_activity/").content.decode()

    assert re.search(r'<input type="date" name="start_date"', html)
    assert re.search(r'<input type="date" name="end_date"', html)
    assert "From (inclusive)" in html


def test_number_schema_fields_are_number_inputs_with_bounds(make_user):
    client = Client()
    client.force_login(make_user("tess", perms=(TEST_PERMISSION,)))

    html = client.get("/reports/new/test_slow/").content.decode()

    field = re.search(r'<input type="number" name="seconds"[^>]*>', html).group(0)
    assert 'value="1"' in field
    assert 'min="0"' in field
    assert 'max="30"' in field


def test_admin_default_parameters_are_the_initial_values(browser):
    ReportTypeConfig.objects.create(key="user_access", default_parameters={"include_inactive": False})

    html = browser.get("/reports/new/user_access/").content.decode()

    assert re.search(r'<input type="checkbox" name="include_inactive"(?![^>]*checked)[^>]*>', html)


def test_valid_post_creates_the_report_and_redirects_to_its_page(browser, user):
    # An unticked checkbox is not sent: it means False
    response = browser.post("/reports/new/user_access/", {"staff_only": "on"})

    report = Report.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/reports/{report.id}/"
    assert report.requested_by == user
    assert report.status == ReportStatus.QUEUED
    assert report.parameters == {"include_inactive": False, "staff_only": True}


def test_invalid_parameters_show_field_errors_and_create_nothing(make_user):
    client = Client()
    client.force_login(make_user("rita", perms=("reports.view_report",)))

    # A date that is not one, and a range the type's own check refuses
    bad_date = client.post("/reports/new/report_activity/", {"start_date": "2026-02-30"})
    bad_range = client.post("/reports/new/report_activity/", {"start_date": "2026-03-10", "end_date": "2026-03-01"})

    assert bad_date.status_code == 400
    assert field_errors(bad_date.content.decode(), "start_date") == ["Enter a valid date."]
    assert bad_range.status_code == 400
    html = bad_range.content.decode()
    assert field_errors(html, "start_date") == ["Must not be after end_date."]
    assert "The report was not requested." in html
    # What was typed is kept
    assert 'value="2026-03-10"' in html
    assert Report.objects.count() == 0


def test_schema_violations_from_the_service_show_next_to_their_field(make_user):
    client = Client()
    client.force_login(make_user("tess", perms=(TEST_PERMISSION,)))

    response = client.post("/reports/new/test_slow/", {"seconds": "31"})

    assert response.status_code == 400
    assert field_errors(response.content.decode(), "seconds") == ["Must be at most 30."]
    assert Report.objects.count() == 0


def test_type_not_permitted_shows_a_clear_message(browser):
    for method in (browser.get, browser.post):
        response = method("/reports/new/report_activity/")

        assert response.status_code == 403
        assert "You may not request &#x27;report_activity&#x27; reports." in response.content.decode()
    assert Report.objects.count() == 0


def test_unknown_or_disabled_type_shows_a_clear_message(browser):
    ReportTypeConfig.objects.create(key="user_access", enabled=False)

    unknown = browser.get("/reports/new/nope/")
    disabled = browser.post("/reports/new/user_access/", {})

    assert unknown.status_code == 404
    assert "There is no report type &#x27;nope&#x27;." in unknown.content.decode()
    assert disabled.status_code == 404
    assert "is disabled." in disabled.content.decode()
    assert Report.objects.count() == 0


class _EveryKindReport(ReportType):
    key = "every_kind"
    title = "Every kind"
    template_name = "reports/pdf/base.html"
    parameters_schema = {
        "type": "object",
        "properties": {
            "format": {"type": "string", "enum": ["a4", "letter"], "default": "a4", "title": "Paper"},
            "copies": {"type": "integer", "minimum": 1, "maximum": 5, "title": "Copies"},
            "label": {"type": ["string", "null"], "maxLength": 20, "description": "Shown on the cover."},
            "ids": {"type": "array", "items": {"type": "integer"}},
        },
        "required": ["copies"],
        "additionalProperties": False,
    }

    def build(self, context: BuildContext) -> dict:
        return {}


def _every_kind_form(data=None, defaults=None) -> ReportParametersForm:
    available = AvailableReportType(
        report_type=_EveryKindReport(), timeout=60, retention_days=1, default_parameters=defaults or {}
    )
    return ReportParametersForm(available, data)


def test_schema_kinds_map_to_form_fields():
    form = _every_kind_form(defaults={"copies": 2})

    html = {name: str(form[name]) for name in form.fields}
    assert html["format"].startswith('<select name="format"')
    assert '<option value="a4" selected>a4</option>' in html["format"]
    assert re.match(r'<input type="number" name="copies" value="2" step="1" min="1" max="5" required', html["copies"])
    assert re.match(r'<input type="text" name="label" maxlength="20"', html["label"])
    assert html["ids"].startswith("<textarea")
    assert [form[name].label for name in form.fields] == ["Paper", "Copies", "Label", "Ids"]
    assert form["label"].help_text == "Shown on the cover."


def test_form_values_become_json_parameters_and_empty_optional_fields_are_left_out():
    form = _every_kind_form({"format": "letter", "copies": "3", "label": "", "ids": "[1, 2]"})

    assert form.is_valid(), form.errors
    assert form.parameters() == {"format": "letter", "copies": 3, "ids": [1, 2]}


def test_parameter_errors_land_on_their_fields_or_on_top():
    form = _every_kind_form({"copies": "9"})
    assert form.is_valid()

    form.add_parameter_errors(ParameterError({"copies": ["Must be at most 5."], "": ["Must be a JSON object."]}))

    assert form.errors == {"copies": ["Must be at most 5."], "__all__": ["Must be a JSON object."]}


# --- Report page and cancel ---------------------------------------------------------------------------------------


def test_report_page_shows_details_with_parameters_escaped(browser, user):
    report = _report(
        user, status=ReportStatus.RUNNING, progress=55, parameters={"staff_only": True, "note": "<b>x</b>"}
    )

    response = browser.get(f"/reports/{report.id}/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "User access review" in html
    assert "Only staff users" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html
    assert 'value="55"' in html
    assert f'data-live-socket="/ws/reports/{report.id}/"' in html
    assert f'data-live-poll="/api/v1/reports/{report.id}"' in html
    assert f'action="/reports/{report.id}/cancel/"' in html


def test_another_users_report_page_is_404(browser, make_user):
    theirs = _report(make_user("bob"))

    assert browser.get(f"/reports/{theirs.id}/").status_code == 404
    assert browser.get("/reports/rep_doesnotexist/").status_code == 404


def test_cancel_view_cancels_a_queued_report(browser, user):
    report = services.report_create(user=user, report_type="user_access", parameters={})

    response = browser.post(f"/reports/{report.id}/cancel/", follow=True)

    report.refresh_from_db()
    assert report.status == ReportStatus.CANCELLED
    assert response.redirect_chain == [(f"/reports/{report.id}/", 302)]
    assert "Report cancelled." in response.content.decode()


def test_cancel_of_a_finished_report_says_why_and_changes_nothing(browser, user):
    report = _report(user, status=ReportStatus.SUCCEEDED)

    response = browser.post(f"/reports/{report.id}/cancel/", follow=True)

    report.refresh_from_db()
    assert report.status == ReportStatus.SUCCEEDED
    assert "Not cancelled: The report is already succeeded." in response.content.decode()


def test_cancel_of_another_users_report_is_404_and_changes_nothing(browser, make_user):
    theirs = _report(make_user("bob"))

    response = browser.post(f"/reports/{theirs.id}/cancel/")

    theirs.refresh_from_db()
    assert response.status_code == 404
    assert theirs.status == ReportStatus.QUEUED


def test_cancel_is_post_only(browser, user):
    report = _report(user)

    assert browser.get(f"/reports/{report.id}/cancel/").status_code == 405
    report.refresh_from_db()
    assert report.status == ReportStatus.QUEUED


# --- CSRF ---------------------------------------------------------------------------------------------------------


def test_posts_without_a_csrf_token_are_refused_and_change_nothing(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    report = _report(user)

    created = client.post("/reports/new/user_access/", {"staff_only": "on"})
    cancelled = client.post(f"/reports/{report.id}/cancel/")

    assert created.status_code == 403
    assert cancelled.status_code == 403
    report.refresh_from_db()
    assert report.status == ReportStatus.QUEUED
    assert Report.objects.count() == 1


def test_posts_with_the_forms_csrf_token_are_accepted(user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    page = client.get("/reports/new/user_access/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    response = client.post("/reports/new/user_access/", {"csrfmiddlewaretoken": token})

    assert response.status_code == 302
    assert Report.objects.count() == 1
