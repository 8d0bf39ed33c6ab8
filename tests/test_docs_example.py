"""docs/report-types.md's worked example works as written.

The example's ```python block is executed (so its @register runs, as autodiscovery would import it) and its ```html
block is installed as its template; then a report of the type is requested through the API, built in-process by
report_render (the function the worker runs), and downloaded.
"""

import copy
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group, Permission, User
from pypdf import PdfReader

from reports.registry import ReportType, report_types
from reports.services import report_render

pytestmark = pytest.mark.django_db

DOC = Path(__file__).resolve().parent.parent / "docs" / "report-types.md"


def fenced_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```$", DOC.read_text(), flags=re.MULTILINE | re.DOTALL)


@pytest.fixture
def example_type(tmp_path, settings) -> Iterator[ReportType]:
    """The documented type, registered from the doc's code, with the doc's template in a template folder."""
    [code] = fenced_blocks("python")
    [template] = fenced_blocks("html")
    before = {report_type.key for report_type in report_types.all()}
    exec(compile(code, str(DOC), "exec"), {"__name__": "directory.report_types"})  # noqa: S102
    [key] = {report_type.key for report_type in report_types.all()} - before
    try:
        report_type = report_types.get(key)
        template_dir = tmp_path / "templates"
        template_path = template_dir / report_type.template_name
        template_path.parent.mkdir(parents=True)
        template_path.write_text(template)
        templates = copy.deepcopy(settings.TEMPLATES)
        templates[0]["DIRS"] = [*templates[0]["DIRS"], template_dir]
        settings.TEMPLATES = templates
        yield report_type
    finally:
        report_types.unregister(key)


@pytest.fixture
def membership(make_user, user) -> None:
    """Auditors: ada, bob. Editors: bob, carol (inactive). Visitors: nobody."""
    bob = make_user("bob", perms=())
    carol = make_user("carol", perms=(), is_active=False)
    Group.objects.create(name="Auditors").user_set.add(user, bob)
    Group.objects.create(name="Editors").user_set.add(bob, carol)
    Group.objects.create(name="Visitors")


def grant(user: User, permission: str) -> None:
    app_label, codename = permission.split(".")
    user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


def pdf_lines(content: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(content))
    return [line.strip() for page in reader.pages for line in page.extract_text().splitlines() if line.strip()]


def test_documented_example_registers_and_builds_through_the_api(example_type, membership, api, user):
    # Given the documented group_membership type, and a user granted the permission it requires
    assert (example_type.key, example_type.required_permission) == ("group_membership", "auth.view_group")
    grant(user, example_type.required_permission)

    # When the user requests it over the API with the documented parameters, and a worker builds it
    response = api.post(
        "/api/v1/reports", {"report_type": "group_membership", "parameters": {"min_members": 1}}, format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["parameters"] == {"include_inactive": False, "min_members": 1}
    report_render(created["id"])

    # Then the report succeeded with a one-page PDF
    finished = api.get(created["url"]).json()
    assert (finished["status"], finished["progress"], finished["error"]) == ("succeeded", 100, None)
    assert finished["file"]["pages"] == 1

    # And the PDF lists the groups with at least one active member, their counts and members
    download = api.get(finished["file"]["url"])
    assert download.status_code == 200
    lines = pdf_lines(b"".join(download.streaming_content))
    assert lines[0] == f"Group membership · {created['id']}"
    meta = next(line for line in lines if line.startswith("Requested by "))
    assert meta.startswith("Requested by Ada Lovelace (ada)  ·  Requested at ")
    assert lines[lines.index(meta) + 1 : lines.index("Summary")] == [
        "Parameters include_inactive = false, min_members = 1"
    ]
    assert lines[lines.index("Summary") + 1] == "2 groups with 3 memberships."
    assert lines[lines.index("Users") + 1 :] == ["Auditors", "2", "ada, bob", "Editors", "1", "bob"]
    assert re.fullmatch(r"Generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", lines[1])
    assert "Page 1" in lines


def test_documented_example_counts_inactive_users_when_asked(example_type, membership, api, user):
    # Given the documented type and a permitted user
    grant(user, example_type.required_permission)

    # When inactive users are included and empty groups allowed
    created = api.post(
        "/api/v1/reports", {"report_type": "group_membership", "parameters": {"include_inactive": True}}, format="json"
    ).json()
    report_render(created["id"])

    # Then carol counts in Editors, and the empty Visitors group is listed
    finished = api.get(created["url"]).json()
    assert finished["status"] == "succeeded", finished
    lines = pdf_lines(b"".join(api.get(finished["file"]["url"]).streaming_content))
    assert lines[lines.index("Summary") + 1] == "3 groups with 4 memberships."
    assert lines[lines.index("Users") + 1 :] == [
        *["Auditors", "2", "ada, bob"],
        *["Editors", "2", "bob, carol"],
        *["Visitors", "0", "—"],
    ]


def test_documented_example_refuses_crossed_bounds_with_its_clean(example_type, api, user):
    # Given the documented type and a permitted user
    grant(user, example_type.required_permission)

    # When the maximum is below the minimum
    response = api.post(
        "/api/v1/reports",
        {"report_type": "group_membership", "parameters": {"min_members": 3, "max_members": 1}},
        format="json",
    )

    # Then the request is refused as the doc says, and nothing is queued
    assert response.status_code == 400
    assert response.json()["errors"] == {"parameters.max_members": ["Must not be less than min_members."]}
    assert api.get("/api/v1/reports").json()["results"] == []


def test_documented_example_is_refused_without_its_permission(example_type, api):
    # Given a user without auth.view_group
    # When they request the documented type
    response = api.post("/api/v1/reports", {"report_type": "group_membership"}, format="json")

    # Then it is refused
    assert response.status_code == 403
    assert response.json()["type"] == "urn:reportsite:problem:report-type-not-permitted"
