"""The built-in report types over real data, and the registry they live in.

Each report is requested with reports.services.report_create and built in-process with report_render, the function
the worker runs, so the PDF checked here is the stored file a user downloads.
"""

import io
import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group, User
from pypdf import PdfReader

from reports.errors import ReportTypeNotPermitted
from reports.models import Report, ReportStatus
from reports.parameters import ParameterError
from reports.registry import BuildContext, ReportType, ReportTypeRegistry, report_types
from reports.report_types.report_activity import ReportActivityReport
from reports.report_types.user_access import UserAccessReport
from reports.services import report_create, report_render

pytestmark = pytest.mark.django_db

ACTIVITY_PERMS = ("auth.view_user", "reports.view_report")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def build_report(user: User, report_type: str, parameters: dict) -> tuple[Report, list[list[str]], PdfReader]:
    """Request a report and build it."""
    return build_report_from(report_create(user=user, report_type=report_type, parameters=parameters))


def build_report_from(report: Report) -> tuple[Report, list[list[str]], PdfReader]:
    """Build a queued report in-process as the worker would; answer it, its pages' text lines, and the PDF."""
    report_render(report.id)
    report = Report.objects.get(pk=report.id)
    assert report.status == ReportStatus.SUCCEEDED, report.error_message
    with report.file.open("rb") as handle:
        reader = PdfReader(io.BytesIO(handle.read()))
    pages = [[line.strip() for line in page.extract_text().splitlines() if line.strip()] for page in reader.pages]
    return report, pages, reader


def between(lines: list[str], start: str, end: str | None = None) -> list[str]:
    """The lines after the first `start` line, up to the next `end` line."""
    rest = lines[lines.index(start) + 1 :]
    return rest[: rest.index(end)] if end else rest


def meta_field(meta: str, label: str) -> str:
    """One field of the header line "Requested by X · Requested at Y · Generated at Z"."""
    for part in meta.split("·"):
        part = part.strip()
        if part.startswith(label + " "):
            return part[len(label) + 1 :].strip()
    raise AssertionError(f"no {label!r} in {meta!r}")


def assert_common_header(
    lines: list[str], report: Report, title: str, requester: str, parameters: list[str], page: int = 1
) -> None:
    """Title, who asked and when, the parameters used, and the page number in the footer."""
    assert lines[0] == f"{title} · {report.id}"
    assert re.fullmatch(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", lines[1]), lines[1]
    assert lines[2] == f"Page {page}", lines[2]
    assert lines[3] == title
    meta = next(line for line in lines if line.startswith("Requested by "))
    assert meta_field(meta, "Requested by") == requester
    assert meta_field(meta, "Requested at") == f"{report.created_at:%Y-%m-%d %H:%M:%S} UTC"
    assert between(lines, meta, "Summary") == ["Parameters " + ", ".join(parameters)]


# --- user_access --------------------------------------------------------------------------------------------------


@pytest.fixture
def people(make_user) -> dict[str, User]:
    """Four real users: a plain requester, a staff member in two groups, an inactive user, a superuser."""
    auditors, editors = Group.objects.create(name="Auditors"), Group.objects.create(name="Editors")
    ada = make_user("ada", first_name="Ada", last_name="Lovelace")
    bob = make_user("bob", perms=(), first_name="Bob", last_name="Builder", is_staff=True)
    bob.groups.add(editors, auditors)
    carol = make_user("carol", perms=(), first_name="Carol", last_name="Shaw", is_active=False)
    carol.groups.add(editors)
    dave = make_user("dave", perms=(), is_staff=True, is_superuser=True)
    User.objects.filter(pk=ada.pk).update(date_joined=at("2025-01-10T09:00:00"))
    User.objects.filter(pk=bob.pk).update(date_joined=at("2025-02-11T09:00:00"), last_login=at("2026-01-02T03:04:05"))
    User.objects.filter(pk=carol.pk).update(date_joined=at("2025-03-12T09:00:00"), last_login=at("2025-04-01T18:30:00"))
    User.objects.filter(pk=dave.pk).update(date_joined=at("2025-04-13T09:00:00"))
    return {"ada": ada, "bob": bob, "carol": carol, "dave": dave}


USER_ROWS = {
    "ada": ["ada", "Ada Lovelace", "—", "no", "no", "yes", "never", "2025-01-10"],
    "bob": ["bob", "Bob Builder", "Auditors, Editors", "yes", "no", "yes", "2026-01-02 03:04", "2025-02-11"],
    "carol": ["carol", "Carol Shaw", "Editors", "no", "no", "no", "2025-04-01 18:30", "2025-03-12"],
    "dave": ["dave", "—", "—", "yes", "yes", "yes", "never", "2025-04-13"],
}


def user_rows(lines: list[str]) -> list[str]:
    return between(lines, "Joined")


def summary(lines: list[str]) -> list[str]:
    return " ".join(between(lines, "Summary", "Users")).replace("·", " ").split()


def test_user_access_lists_every_user_with_groups_flags_and_logins(people):
    # Given four users with different groups, flags and logins
    # When ada requests an access review with the default parameters
    report, pages, reader = build_report(people["ada"], "user_access", {})

    # Then the one landscape page carries the common header with the defaults used
    assert len(pages) == report.file_pages == 1
    assert reader.pages[0].mediabox.width > reader.pages[0].mediabox.height
    assert_common_header(
        pages[0],
        report,
        "User access review",
        "Ada Lovelace (ada)",
        ["include_inactive = true", "staff_only = false"],
    )
    # And the totals and one row per user, ordered by username, groups joined by name, flags as yes/no
    assert summary(pages[0]) == ["4", "users", "3", "active", "2", "staff", "1", "superusers"]
    assert user_rows(pages[0]) == [*USER_ROWS["ada"], *USER_ROWS["bob"], *USER_ROWS["carol"], *USER_ROWS["dave"]]


def test_user_access_without_inactive_users_drops_them(people):
    # Given an inactive user, carol, among four
    # When the review is requested without inactive users
    report, pages, _ = build_report(people["ada"], "user_access", {"include_inactive": False})

    # Then carol is left out, of the rows and of the totals
    assert_common_header(
        pages[0],
        report,
        "User access review",
        "Ada Lovelace (ada)",
        ["include_inactive = false", "staff_only = false"],
    )
    assert summary(pages[0]) == ["3", "users", "3", "active", "2", "staff", "1", "superusers"]
    assert user_rows(pages[0]) == [*USER_ROWS["ada"], *USER_ROWS["bob"], *USER_ROWS["dave"]]


def test_user_access_staff_only_lists_only_staff(people):
    # When the review is requested for staff only
    report, pages, _ = build_report(people["ada"], "user_access", {"staff_only": True})

    # Then only bob and dave, the staff users, are listed
    assert_common_header(
        pages[0],
        report,
        "User access review",
        "Ada Lovelace (ada)",
        ["include_inactive = true", "staff_only = true"],
    )
    assert summary(pages[0]) == ["2", "users", "2", "active", "2", "staff", "1", "superusers"]
    assert user_rows(pages[0]) == [*USER_ROWS["bob"], *USER_ROWS["dave"]]


def test_user_access_over_many_users_numbers_every_page_and_repeats_the_table_header(make_user, user):
    # Given 90 more users than fit on one page
    User.objects.bulk_create([User(username=f"member{number:03d}") for number in range(90)])

    # When the review is built
    report, pages, _ = build_report(user, "user_access", {})

    # Then the table flows over several pages.
    # BUG (templates/reports/pdf/base.html, `table.data { ... -pdf-keep-in-frame-mode: shrink; }`): the table is
    # kept in the first page's frame by scaling it down, so 91 users come out as one page of unreadable
    # micro-print (400 users: a sliver a few millimetres wide) instead of a table running over several pages.
    assert report.file_pages == len(pages) >= 2
    # And every page has the running header, its own number in the footer, and the table's column headings
    for number, lines in enumerate(pages, start=1):
        assert lines[0] == f"User access review · {report.id}"
        assert re.fullmatch(r"Generated .* UTC", lines[1]), lines[1]
        assert lines[2] == f"Page {number}"
        assert "Username" in lines
        assert "Joined" in lines
    # And every user is listed exactly once across the pages
    usernames = [line for lines in pages for line in lines if re.fullmatch(r"member\d{3}|ada", line)]
    assert usernames == ["ada", *(f"member{number:03d}" for number in range(90))]


def test_user_access_needs_the_view_user_permission(make_user):
    # Given a user without auth.view_user
    outsider = make_user("eve", perms=())

    # When they ask for an access review, then it is refused before anything is stored
    with pytest.raises(ReportTypeNotPermitted):
        report_create(user=outsider, report_type="user_access", parameters={})
    assert Report.objects.count() == 0


# --- report_activity ----------------------------------------------------------------------------------------------


def add_report(
    requester: User, report_type: str, status: str, created: datetime, seconds: float | None = None
) -> Report:
    """A report row as the service would have left it; timestamps are set with .update() past auto_now_add."""
    report = Report.objects.create(requested_by=requester, report_type=report_type, status=status)
    started = created + timedelta(seconds=5) if seconds is not None else None
    Report.objects.filter(pk=report.pk).update(
        created_at=created,
        started_at=started,
        finished_at=started + timedelta(seconds=seconds) if started else None,
    )
    return report


@pytest.fixture
def activity(make_user) -> dict[str, User]:
    """Reports of two types over 1-3 March 2025, and two just outside that range.

    user_access: 21 succeeded taking 1..21 s (bob 12, carol 9), 2 failed (carol), 1 cancelled (ada);
    report_activity: 3 succeeded taking 10, 20, 30 s (ada), 1 failed (bob), 1 queued (ada).
    """
    ada = make_user("ada", perms=ACTIVITY_PERMS, first_name="Ada", last_name="Lovelace")
    bob = make_user("bob", perms=())
    carol = make_user("carol", perms=())
    dave = make_user("dave", perms=())
    for index in range(21):
        created = at(f"2025-03-0{1 + index % 3}T10:00:00") + timedelta(minutes=index)
        add_report(bob if index < 12 else carol, "user_access", ReportStatus.SUCCEEDED, created, index + 1)
    add_report(carol, "user_access", ReportStatus.FAILED, at("2025-03-02T11:00:00"), 3)
    add_report(carol, "user_access", ReportStatus.FAILED, at("2025-03-02T12:00:00"), 4)
    add_report(ada, "user_access", ReportStatus.CANCELLED, at("2025-03-03T13:00:00"))
    for seconds in (10, 20, 30):
        add_report(ada, "report_activity", ReportStatus.SUCCEEDED, at("2025-03-01T08:00:00"), seconds)
    add_report(bob, "report_activity", ReportStatus.FAILED, at("2025-03-03T23:59:59"), 2)
    add_report(ada, "report_activity", ReportStatus.QUEUED, at("2025-03-02T00:00:00"))
    add_report(dave, "user_access", ReportStatus.SUCCEEDED, at("2025-02-28T23:59:59"), 1)
    add_report(dave, "user_access", ReportStatus.FAILED, at("2025-03-04T00:00:00"), 1)
    return {"ada": ada, "bob": bob, "carol": carol, "dave": dave}


RANGE = {"start_date": "2025-03-01", "end_date": "2025-03-03"}


def test_report_activity_totals_failure_rate_durations_and_requesters(activity):
    # Given the reports of 1-3 March and two outside
    # When ada requests the activity over 1-3 March
    report, pages, _ = build_report(activity["ada"], "report_activity", RANGE)

    # Then the page carries the common header with the range
    assert len(pages) == report.file_pages == 1
    lines = pages[0]
    assert_common_header(
        lines,
        report,
        "Report activity",
        "Ada Lovelace (ada)",
        ["end_date = 2025-03-03", "start_date = 2025-03-01"],
    )
    # And the 29 reports in range are counted, the two outside are not
    assert between(lines, "Summary", "Reports per day") == ["29 reports requested between 2025-03-01 and 2025-03-03."]
    # And per type: total, succeeded, failed, cancelled, failure rate over finished ones, median and p95 of durations
    assert between(lines, "p95", "Top requesters") == [
        *["report_activity", "5", "3", "1", "0", "25%", "20.00 s", "30.00 s"],
        *["user_access", "24", "21", "2", "1", "9%", "11.00 s", "20.00 s"],
    ]
    # And the requesters, busiest first; dave's reports are outside the range
    assert between(lines, "Reports") == ["bob", "13", "carol", "11", "ada", "5"]


def test_report_activity_chart_counts_reports_per_day_and_is_drawn(activity):
    # Given the reports of 1-3 March
    # When the builder runs for that range
    progress: list[int] = []
    context = report_types.get("report_activity").build(
        BuildContext(report_id="rep_x", parameters=RANGE, requested_by=activity["ada"], set_progress=progress.append)
    )

    # Then the chart has, per day, the succeeded, failed and other reports
    chart = json.loads(context["chart_json"])
    assert chart["type"] == "verticalbar"
    assert chart["seriesNames"] == ["succeeded", "failed", "other"]
    assert chart["labels"] == ["01 Mar", "02 Mar", "03 Mar"]
    assert chart["data"] == [[10, 7, 7], [0, 2, 1], [0, 1, 1]]
    assert progress == [60]

    # And in the PDF the chart is drawn under its heading: legend and day labels, before the table
    _, pages, _ = build_report(activity["ada"], "report_activity", RANGE)
    chart_lines = between(pages[0], "Reports per day", "By report type")
    assert chart_lines[:6] == ["succeeded", "failed", "other", "01 Mar", "02 Mar", "03 Mar"]


def test_report_activity_value_axis_labels_are_distinct_whole_numbers(activity):
    # Given a day, 4 March, with a single report (dave's failed one)
    # When the activity of that day is built
    _, pages, _ = build_report(
        activity["ada"], "report_activity", {"start_date": "2025-03-04", "end_date": "2025-03-04"}
    )
    assert between(pages[0], "Summary", "Reports per day") == ["1 report requested between 2025-03-04 and 2025-03-04."]

    # Then the chart's value axis reads in whole, distinct numbers.
    # BUG (reports/report_types/report_activity.py, activity_chart, "valueAxis"): the axis has no step and prints its
    # ticks with "%d", so when the tallest bar is small the fractional ticks print as repeated zeros; here the axis
    # reads 0, 0, 0, 0, 0, 1 from bottom to top.
    axis = between(pages[0], "04 Mar", "By report type")
    assert all(label.isdigit() for label in axis), axis
    assert len(axis) == len(set(axis)), axis


def test_report_activity_defaults_to_the_last_30_days_and_checks_the_range(make_user):
    # Given a user allowed to see report activity
    ada = make_user("ada", perms=ACTIVITY_PERMS)

    # When no range is given, then the 30 days up to today are used
    report = report_create(user=ada, report_type="report_activity", parameters={})
    today = datetime.now(UTC).date()
    assert report.parameters == {"start_date": f"{today - timedelta(days=29)}", "end_date": f"{today}"}

    # When the start is after the end, or the range is longer than 366 days, then the parameters are refused
    with pytest.raises(ParameterError) as reversed_range:
        report_create(
            user=ada, report_type="report_activity", parameters={"start_date": "2025-03-02", "end_date": "2025-03-01"}
        )
    assert reversed_range.value.errors == {"start_date": ["Must not be after end_date."]}
    with pytest.raises(ParameterError) as long_range:
        report_create(
            user=ada, report_type="report_activity", parameters={"start_date": "2024-01-01", "end_date": "2025-01-01"}
        )
    assert long_range.value.errors == {"end_date": ["The range may cover at most 366 days."]}
    assert Report.objects.count() == 1


# --- Timestamps ---------------------------------------------------------------------------------------------------


def test_times_labelled_utc_are_in_utc_when_the_site_time_zone_is_not_utc(settings, make_user):
    # Given a site whose TIME_ZONE (DJANGO_TIME_ZONE) is Asia/Tokyo, UTC+9
    settings.TIME_ZONE = "Asia/Tokyo"
    ada = make_user("ada", first_name="Ada", last_name="Lovelace")
    report = report_create(user=ada, report_type="user_access", parameters={})
    Report.objects.filter(pk=report.pk).update(created_at=at("2026-01-02T03:04:05"))

    # When the report is built
    report, pages, _ = build_report_from(report)

    # Then "Requested at" shows the request time with its zone: 03:04:05 UTC or 12:04:05 JST, never mislabelled
    meta = next(line for line in pages[0] if line.startswith("Requested by "))
    assert meta_field(meta, "Requested at") in {
        "2026-01-02 03:04:05 UTC",
        "2026-01-02 12:04:05 JST",
    }


# --- The registry -------------------------------------------------------------------------------------------------


class ClashingUserAccess(ReportType):
    key = "user_access"
    title = "Another user access"
    template_name = "reports/pdf/user_access.html"

    def build(self, context: BuildContext) -> dict:
        return {}


class GroupsOnly(ReportType):
    key = "test_groups_only"
    title = "Groups only"
    template_name = "reports/pdf/base.html"
    required_permission = "auth.view_group"

    def build(self, context: BuildContext) -> dict:
        return {}


class OpenToAll(ReportType):
    key = "test_open_to_all"
    title = "Open to all"
    template_name = "reports/pdf/base.html"

    def build(self, context: BuildContext) -> dict:
        return {}


def test_built_in_types_are_registered_by_autodiscovery():
    # Given the project as installed, then both built-in types were found at start-up
    assert isinstance(report_types.get("user_access"), UserAccessReport)
    assert isinstance(report_types.get("report_activity"), ReportActivityReport)


def test_registering_a_second_type_under_a_taken_key_raises_and_keeps_the_first():
    # Given the built-in user_access type
    # When another class registers the same key
    with pytest.raises(ValueError, match="'user_access' is already registered"):
        report_types.register(ClashingUserAccess)

    # Then the built-in type is still the one registered
    assert isinstance(report_types.get("user_access"), UserAccessReport)


def test_registering_the_same_class_twice_is_harmless():
    # Given a registry holding a type
    registry = ReportTypeRegistry()
    registry.register(OpenToAll)

    # When the same class is registered again, as when its module is imported twice
    returned = registry.register(OpenToAll)

    # Then no error is raised, the decorator hands the class back, and the type is listed once
    assert returned is OpenToAll
    assert [type(report_type) for report_type in registry.all()] == [OpenToAll]


def test_is_permitted_honours_the_required_permission(make_user):
    # Given users with and without auth.view_group, and a superuser
    viewer = make_user("viewer", perms=("auth.view_group",))
    plain = make_user("plain", perms=())
    root = make_user("root", perms=(), is_superuser=True)

    # Then a type requiring auth.view_group admits only those who hold it
    assert [GroupsOnly().is_permitted(person) for person in (viewer, plain, root)] == [True, False, True]
    # And a type requiring nothing admits every user
    assert [OpenToAll().is_permitted(person) for person in (viewer, plain, root)] == [True, True, True]
