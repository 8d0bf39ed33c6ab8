"""The list of one's reports (order, filters, cursor pagination), the report types a caller may use and how the
admin's ReportTypeConfig shapes them, the OpenAPI document and the polling hint (SPEC §4, §3.1)."""

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

from reports.models import Report, ReportTypeConfig
from tests.conftest import client_for

USER_ACCESS_TYPE = {
    "key": "user_access",
    "title": "User access review",
    "description": "Every user with their groups, staff and superuser flags, whether active, last login and join date.",
    "parameters_schema": {
        "type": "object",
        "properties": {
            "include_inactive": {"type": "boolean", "default": True, "title": "Include inactive users"},
            "staff_only": {"type": "boolean", "default": False, "title": "Only staff users"},
        },
        "additionalProperties": False,
    },
    "default_parameters": {},
    "timeout_seconds": 300,
}


def make_reports(user, specs: list[tuple[str, str]]) -> list[Report]:
    """Reports of `user` from (report_type, status), each a minute newer than the one before."""
    start = timezone.now() - timedelta(hours=1)
    reports = []
    for offset, (report_type, status) in enumerate(specs):
        report = Report.objects.create(requested_by=user, report_type=report_type, status=status)
        Report.objects.filter(pk=report.pk).update(created_at=start + timedelta(minutes=offset))
        reports.append(report)
    return reports


def ids(page: dict) -> list[str]:
    return [item["id"] for item in page["results"]]


# --- The list -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_is_newest_first(api, user):
    # Given three reports created one after the other
    oldest, middle, newest = make_reports(user, [("user_access", "queued")] * 3)

    # When the list is read
    page = api.get("/api/v1/reports").json()

    # Then the newest comes first
    assert ids(page) == [newest.id, middle.id, oldest.id]
    assert (page["next"], page["previous"]) == (None, None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=succeeded", [3, 0]),
        ("status=queued", [1]),
        ("report_type=report_activity", [2, 1]),
        ("report_type=user_access&status=succeeded", [3, 0]),
        ("report_type=report_activity&status=succeeded", []),
        ("report_type=payroll", []),
    ],
)
def test_list_filters(query, expected, api, user):
    # Given reports of two types in several states
    reports = make_reports(
        user,
        [
            ("user_access", "succeeded"),
            ("report_activity", "queued"),
            ("report_activity", "failed"),
            ("user_access", "succeeded"),
        ],
    )

    # When the list is filtered
    response = api.get(f"/api/v1/reports?{query}")

    # Then exactly the matching reports come back, newest first
    assert response.status_code == 200
    assert ids(response.json()) == [reports[index].id for index in expected]


@pytest.mark.django_db
def test_pagination_follows_the_next_cursor_without_overlap(api, user):
    # Given five reports
    reports = make_reports(user, [("user_access", "succeeded")] * 5)
    newest_first = [report.id for report in reversed(reports)]

    # When they are read two at a time, following `next`
    pages = [api.get("/api/v1/reports?page_size=2").json()]
    while pages[-1]["next"]:
        assert pages[-1]["next"].startswith("http://testserver/api/v1/reports?cursor=")
        pages.append(api.get(pages[-1]["next"]).json())

    # Then the pages hold 2, 2 and 1 reports, in order, each once
    assert [ids(page) for page in pages] == [newest_first[0:2], newest_first[2:4], newest_first[4:5]]
    assert pages[0]["previous"] is None
    assert pages[-1]["next"] is None
    # And `previous` leads back to the page before
    assert ids(api.get(pages[-1]["previous"]).json()) == newest_first[2:4]


# --- Report types -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_report_types_lists_only_the_permitted_ones_with_their_schema(api):
    # Given Ada, who holds auth.view_user but not reports.view_report
    # When she lists the report types
    response = api.get("/api/v1/report-types")

    # Then she sees user_access, with its JSON Schema, and model_table (she may view users), not report_activity
    assert response.status_code == 200
    assert [item["key"] for item in response.json()] == ["model_table", "user_access"]
    assert response.json()[1] == USER_ACCESS_TYPE


@pytest.mark.django_db
def test_report_types_for_a_user_without_permissions_is_empty(make_user):
    client = client_for(make_user("nobody", perms=()))

    response = client.get("/api/v1/report-types")

    assert response.status_code == 200
    assert response.json() == []


@pytest.mark.django_db
def test_disabled_type_is_hidden_and_refused(api):
    # Given an admin disabled user_access
    ReportTypeConfig.objects.create(key="user_access", enabled=False)

    # When Ada lists the types and then requests one anyway
    listed = api.get("/api/v1/report-types")
    response = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json")

    # Then it is not listed, and the request is a 400 on report_type that creates nothing
    assert "user_access" not in [item["key"] for item in listed.json()]
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == {"report_type": ["The report type 'user_access' is disabled."]}
    assert Report.objects.count() == 0


@pytest.mark.django_db
def test_allowed_groups_limit_the_type_to_their_members(api, user):
    # Given user_access limited to the group "auditors", which Ada is not in
    auditors = Group.objects.create(name="auditors")
    ReportTypeConfig.objects.create(key="user_access").allowed_groups.add(auditors)

    # When Ada lists the types and requests one
    listed = api.get("/api/v1/report-types")
    response = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json")

    # Then it is hidden from her and refused with 403, creating nothing
    assert "user_access" not in [item["key"] for item in listed.json()]
    assert response.status_code == 403
    assert response.json() == {
        "type": "urn:reportsite:problem:report-type-not-permitted",
        "title": "Report type not permitted",
        "status": 403,
        "detail": "'user_access' reports are limited to certain groups.",
    }
    assert Report.objects.count() == 0

    # And once she joins the group, she may
    user.groups.add(auditors)
    assert USER_ACCESS_TYPE in api.get("/api/v1/report-types").json()
    assert api.post("/api/v1/reports", {"report_type": "user_access"}, format="json").status_code == 201
    assert Report.objects.filter(requested_by=user).count() == 1


@pytest.mark.django_db
def test_superusers_pass_allowed_groups(make_user):
    # Given user_access limited to "auditors", and a superuser outside it
    ReportTypeConfig.objects.create(key="user_access").allowed_groups.add(Group.objects.create(name="auditors"))
    root = make_user("root", perms=(), is_superuser=True)
    client = client_for(root)

    # When the superuser lists the types and requests one
    keys = [item["key"] for item in client.get("/api/v1/report-types").json()]
    response = client.post("/api/v1/reports", {"report_type": "user_access"}, format="json")

    # Then the group limit does not apply
    assert "user_access" in keys
    assert "report_activity" in keys
    assert response.status_code == 201, response.content
    assert Report.objects.get().requested_by == root


@pytest.mark.django_db
def test_admin_default_parameters_apply_where_none_is_given(api):
    # Given an admin made inactive users excluded by default, and shortened the timeout
    ReportTypeConfig.objects.create(
        key="user_access", default_parameters={"include_inactive": False}, timeout_seconds=60
    )

    # When Ada requests a report without parameters, and another that sets the value itself
    defaulted = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json").json()
    explicit = api.post(
        "/api/v1/reports", {"report_type": "user_access", "parameters": {"include_inactive": True}}, format="json"
    ).json()

    # Then the admin's default fills the gap, what she gave wins, and the type list shows the configuration
    assert defaulted["parameters"] == {"include_inactive": False, "staff_only": False}
    assert explicit["parameters"] == {"include_inactive": True, "staff_only": False}
    listed = {item["key"]: item for item in api.get("/api/v1/report-types").json()}
    assert listed["user_access"] == {
        **USER_ACCESS_TYPE,
        "default_parameters": {"include_inactive": False},
        "timeout_seconds": 60,
    }


# --- The OpenAPI document and the docs page -----------------------------------------------------------------------

SPEC_PATHS = {
    "/api/v1/reports",
    "/api/v1/reports/{report_id}",
    "/api/v1/reports/{report_id}/file",
    "/api/v1/reports/{report_id}/cancel",
    "/api/v1/report-types",
}


@pytest.mark.django_db
@pytest.mark.parametrize("accept", ["application/vnd.oai.openapi+json", "application/json"])
def test_openapi_document_is_valid_openapi_3(accept):
    # When the schema is fetched as JSON, anonymously (as Swagger UI does)
    response = APIClient().get("/api/v1/schema", HTTP_ACCEPT=accept)

    # Then it is a valid OpenAPI 3 document covering the report operations
    assert response.status_code == 200
    assert response["Content-Type"].split(";")[0] == accept
    document = json.loads(response.content)
    assert document["openapi"].startswith("3.")
    validate_schema(document)
    operations = {op["operationId"] for item in document["paths"].values() for op in item.values()}
    assert {
        "reports_list",
        "reports_create",
        "reports_retrieve",
        "reports_file",
        "reports_cancel",
        "report_types_list",
    } <= operations


@pytest.mark.django_db
def test_openapi_document_without_accept_is_yaml_and_format_query_is_ignored():
    # When the schema is fetched without an Accept header, or with ?format=json (URL_FORMAT_OVERRIDE is off)
    plain = APIClient().get("/api/v1/schema")
    with_format = APIClient().get("/api/v1/schema?format=json")

    # Then both answer the YAML rendering
    assert plain.status_code == with_format.status_code == 200
    assert plain["Content-Type"].startswith("application/vnd.oai.openapi")
    assert plain.content.startswith(b"openapi: 3.")
    assert with_format.content == plain.content


@pytest.mark.django_db
def test_openapi_paths_are_the_urls_the_api_hands_out(api):
    # Given the URL the API gives for a report (Location, `url`): no trailing slash
    created = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json").json()
    assert created["url"] == f"http://testserver/api/v1/reports/{created['id']}"

    # When the OpenAPI document is read
    document = APIClient().get("/api/v1/schema", HTTP_ACCEPT="application/json").json()

    # Then it documents those same paths
    missing = SPEC_PATHS - set(document["paths"])
    assert missing == set(), sorted(document["paths"])


@pytest.mark.django_db
def test_docs_page_is_html():
    response = APIClient().get("/api/docs")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert b"swagger-ui" in response.content
    assert b"/api/v1/schema" in response.content
    # Swagger UI's assets come from this site, so the page works without reaching any CDN.
    assert b"cdn." not in response.content
    assert b"/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in response.content


# --- Polling hint -------------------------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "retry_after"),
    [
        ("queued", "1"),
        ("running", "1"),
        ("succeeded", None),
        ("failed", None),
        ("cancelled", None),
        ("expired", None),
    ],
)
def test_retry_after_only_while_not_terminal(status, retry_after, api, user):
    # Given a report in the given state
    (report,) = make_reports(user, [("user_access", status)])

    # When it is read
    response = api.get(f"/api/v1/reports/{report.id}")

    # Then Retry-After hints the next poll only while it can still change
    assert response.status_code == 200
    assert response.json()["status"] == status
    assert response.headers.get("Retry-After") == retry_after
