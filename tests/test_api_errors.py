"""Every error the API gives is an RFC 9457 problem document (SPEC §4): never HTML, never a traceback."""

from dataclasses import dataclass, field
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from reports.models import Report
from reports.services import report_create
from tests.conftest import client_for

PROBLEM = "application/problem+json"
URN = "urn:reportsite:problem:"
INVALID_REQUEST = ("validation-error", "Invalid request", "The request has invalid fields.")
INVALID_PARAMETERS = ("validation-error", "Invalid parameters", "Some parameters are not valid.")


@dataclass(frozen=True)
class Case:
    method: str
    path: str
    status: int
    slug: str
    title: str
    detail: str
    errors: dict[str, list[str]] | None = None
    # Who asks: "ada" (token, may use user_access), "anonymous", "bad_token", "nobody" (no permission at all),
    # "analyst" (token, may use report_activity).
    caller: str = "ada"
    body: Any = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expected_headers: dict[str, str] = field(default_factory=dict)


def post(body: Any, status: int, problem: tuple[str, str, str], errors=None, **options) -> Case:
    """A JSON POST to the create endpoint."""
    slug, title, detail = problem
    return Case("post", "/api/v1/reports", status, slug, title, detail, errors, body=body, **options)


CASES = {
    # Unknown paths under /api, at every depth (the catch-all and the views' own 404).
    "unknown path under /api/": Case(
        "get", "/api/nope", 404, "not-found", "Not found", "No API resource at /api/nope."
    ),
    "bare /api": Case("get", "/api", 404, "not-found", "Not found", "No API resource at /api."),
    "/api/ itself": Case("get", "/api/", 404, "not-found", "Not found", "No API resource at /api/."),
    "unknown path under /api/v1/": Case(
        "get", "/api/v1/nope/deeper", 404, "not-found", "Not found", "No API resource at /api/v1/nope/deeper."
    ),
    "report id with characters ids never have": Case(
        "get",
        "/api/v1/reports/rep-!x",
        404,
        "not-found",
        "Not found",
        "No such resource.",
    ),
    "report id that does not exist": Case(
        "get", "/api/v1/reports/rep_doesnotexist", 404, "not-found", "Not found", "No such resource."
    ),
    "invalid list cursor": Case(
        "get", "/api/v1/reports?cursor=garbage", 404, "not-found", "Not found", "Invalid cursor"
    ),
    # Verbs a resource does not support.
    "DELETE on the collection": Case(
        "delete",
        "/api/v1/reports",
        405,
        "method-not-allowed",
        "Method not allowed",
        'Method "DELETE" not allowed.',
        expected_headers={"Allow": "GET, POST, HEAD, OPTIONS"},
    ),
    "PUT on one's own report": Case(
        "put",
        "/api/v1/reports/{own}",
        405,
        "method-not-allowed",
        "Method not allowed",
        'Method "PUT" not allowed.',
        body={"status": "succeeded"},
        expected_headers={"Allow": "GET, HEAD, OPTIONS"},
    ),
    # Bodies that are not JSON, or not the JSON expected.
    "text/plain body": post(
        "report_type=user_access",
        415,
        ("unsupported-media-type", "Unsupported media type", 'Unsupported media type "text/plain" in request.'),
        content_type="text/plain",
    ),
    "form-encoded body": post(
        "report_type=user_access",
        415,
        (
            "unsupported-media-type",
            "Unsupported media type",
            'Unsupported media type "application/x-www-form-urlencoded" in request.',
        ),
        content_type="application/x-www-form-urlencoded",
    ),
    "malformed JSON": post(
        '{"report_type": "user_access",',
        400,
        (
            "malformed-request",
            "Malformed request body",
            "JSON parse error - Expecting property name enclosed in double quotes: line 1 column 31 (char 30)",
        ),
        content_type="application/json",
    ),
    "JSON array instead of an object": post(
        [{"report_type": "user_access"}],
        400,
        INVALID_REQUEST,
        {"": ["Invalid data. Expected a dictionary, but got list."]},
    ),
    "report_type missing": post({"parameters": {}}, 400, INVALID_REQUEST, {"report_type": ["This field is required."]}),
    "report_type unknown": post(
        {"report_type": "payroll"},
        400,
        ("validation-error", "Invalid request", "There is no report type 'payroll'."),
        {"report_type": ["There is no report type 'payroll'."]},
    ),
    "unknown top-level field": post(
        {"report_type": "user_access", "colour": "red"}, 400, INVALID_REQUEST, {"colour": ["Unknown field."]}
    ),
    "parameters not an object": post(
        {"report_type": "user_access", "parameters": [1, 2]},
        400,
        INVALID_REQUEST,
        {"parameters": ['Expected a dictionary of items but got type "list".']},
    ),
    "parameter of the wrong type": post(
        {"report_type": "user_access", "parameters": {"include_inactive": "yes"}},
        400,
        INVALID_PARAMETERS,
        {"parameters.include_inactive": ["Must be of type boolean."]},
    ),
    "unknown parameter": post(
        {"report_type": "user_access", "parameters": {"include_robots": True}},
        400,
        INVALID_PARAMETERS,
        {"parameters.include_robots": ["Unknown parameter."]},
    ),
    "report_activity with an impossible date": post(
        {"report_type": "report_activity", "parameters": {"start_date": "2026-02-30"}},
        400,
        INVALID_PARAMETERS,
        {"parameters.start_date": ["Must be a valid date (for a date: YYYY-MM-DD)."]},
        caller="analyst",
    ),
    "report_activity with start after end": post(
        {"report_type": "report_activity", "parameters": {"start_date": "2026-03-02", "end_date": "2026-03-01"}},
        400,
        INVALID_PARAMETERS,
        {"parameters.start_date": ["Must not be after end_date."]},
        caller="analyst",
    ),
    # Credentials and permissions.
    "no credentials (read)": Case(
        "get",
        "/api/v1/reports",
        401,
        "not-authenticated",
        "Authentication required",
        "Authentication credentials were not provided.",
        caller="anonymous",
        expected_headers={"WWW-Authenticate": "Token"},
    ),
    "no credentials (write)": post(
        {"report_type": "user_access"},
        401,
        ("not-authenticated", "Authentication required", "Authentication credentials were not provided."),
        caller="anonymous",
        expected_headers={"WWW-Authenticate": "Token"},
    ),
    "bad token": Case(
        "get",
        "/api/v1/reports",
        401,
        "authentication-failed",
        "Invalid credentials",
        "Invalid token.",
        caller="bad_token",
        expected_headers={"WWW-Authenticate": "Token"},
    ),
    "user lacking the type's permission": post(
        {"report_type": "user_access"},
        403,
        ("report-type-not-permitted", "Report type not permitted", "You may not request 'user_access' reports."),
        caller="nobody",
    ),
    "user allowed another type only": post(
        {"report_type": "report_activity"},
        403,
        ("report-type-not-permitted", "Report type not permitted", "You may not request 'report_activity' reports."),
    ),
    # Query parameters and content negotiation.
    "invalid status filter": Case(
        "get",
        "/api/v1/reports?status=done",
        400,
        *INVALID_REQUEST,
        errors={"status": ['"done" is not a valid choice.']},
    ),
    "only HTML acceptable": Case(
        "get",
        "/api/v1/reports",
        406,
        "not-acceptable",
        "Not acceptable",
        "Could not satisfy the request Accept header.",
        headers={"HTTP_ACCEPT": "text/html"},
    ),
}


def caller_client(kind: str, make_user) -> APIClient:
    if kind == "anonymous":
        return APIClient()
    if kind == "bad_token":
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")
        return client
    perms = {"ada": ("auth.view_user",), "nobody": (), "analyst": ("reports.view_report",)}[kind]
    return client_for(make_user(kind, perms=perms))


def token_client(user, **client_options) -> APIClient:
    """Like tests.conftest.client_for, with APIClient options."""
    client = APIClient(**client_options)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def send(client: APIClient, case: Case, path: str):
    options: dict[str, Any] = dict(case.headers)
    if case.body is not None and case.content_type:
        options.update(data=case.body, content_type=case.content_type)
    elif case.body is not None:
        options.update(data=case.body, format="json")
    return getattr(client, case.method)(path, **options)


def assert_problem(response, status: int, slug: str, title: str, detail: str, errors=None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    expected = {"type": URN + slug, "title": title, "status": status, "detail": detail}
    if errors is not None:
        expected["errors"] = errors
    assert response.json() == expected
    return response.json()


@pytest.mark.django_db
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_error_answers_a_problem_document(case: Case, make_user):
    # Given a caller, and for the PUT case a report of theirs
    client = caller_client(case.caller, make_user)
    path = case.path
    if "{own}" in path:
        own = report_create(user=make_user("owner"), report_type="user_access", parameters={})
        client = client_for(own.requested_by)
        path = path.format(own=own.id)
    reports_before = Report.objects.count()

    # When the request is made
    response = send(client, case, path)

    # Then the answer is exactly the problem document, with the headers the status calls for
    assert_problem(response, case.status, case.slug, case.title, case.detail, case.errors)
    for name, value in case.expected_headers.items():
        assert response[name] == value
    # And nothing was written
    assert Report.objects.count() == reports_before


@pytest.mark.django_db
def test_report_activity_range_over_366_days_is_refused(make_user):
    # Given a user who may request report_activity
    client = caller_client("analyst", make_user)

    # When the range covers 367 days
    response = client.post(
        "/api/v1/reports",
        {"report_type": "report_activity", "parameters": {"start_date": "2025-01-01", "end_date": "2026-01-02"}},
        format="json",
    )

    # Then it is refused on end_date, and nothing was stored
    assert_problem(
        response, 400, *INVALID_PARAMETERS, {"parameters.end_date": ["The range may cover at most 366 days."]}
    )
    assert Report.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
@pytest.mark.parametrize("path", ["/api", "/api/nope", "/api/v1/", "/api/v1/nope", "/api/v2/reports"])
def test_unknown_api_path_is_a_problem_even_with_debug(path, debug, settings, api):
    # Given DEBUG on or off (on, Django would show its HTML "Page not found" page)
    settings.DEBUG = debug

    # When an unknown path under /api is requested
    response = api.get(path)

    # Then it is a 404 problem, not Django's page
    assert_problem(response, 404, "not-found", "Not found", f"No API resource at {path}.")
    assert b"<html" not in response.content.lower()
    assert b"Django" not in response.content


@pytest.mark.django_db
def test_api_root_with_a_slash_is_a_problem_also_with_debug(settings, api):
    # Given DEBUG on (the project's default outside production)
    settings.DEBUG = True

    # When /api/ is requested (with DEBUG off it is a 404 problem: see the table above)
    response = api.get("/api/")

    # Then it is the same 404 problem, not Django's HTML "Page not found" debug page
    assert response["Content-Type"] == PROBLEM, response.content[:200]
    assert_problem(response, 404, "not-found", "Not found", "No API resource at /api/.")


@pytest.mark.django_db
def test_unknown_api_path_with_a_write_verb_is_a_404_problem_not_a_csrf_page(user):
    # Given an integrator with a token, who (like curl) sends no CSRF cookie: the test client's default of
    # skipping CSRF checks is turned off so the request meets the middleware as in production
    client = token_client(user, enforce_csrf_checks=True)

    # When they POST to a mistyped path under /api
    response = client.post("/api/v1/report", {"report_type": "user_access"}, format="json")

    # Then the answer is the same 404 problem a GET gets, not Django's HTML "CSRF verification failed" page
    assert response["Content-Type"] == PROBLEM, (response.status_code, response.content[:200])
    assert_problem(response, 404, "not-found", "Not found", "No API resource at /api/v1/report.")
    assert Report.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True], ids=["DEBUG off", "DEBUG on"])
def test_server_error_is_a_500_problem_without_traceback(debug, settings, user, monkeypatch):
    # Given a bug deep in a selector
    settings.DEBUG = debug

    def broken_report_list(**kwargs):
        raise RuntimeError("secret internals: /srv/app/reports/selectors.py line 42")

    monkeypatch.setattr("reports.selectors.report_list", broken_report_list)
    client = token_client(user, raise_request_exception=False)

    # When the list is requested
    response = client.get("/api/v1/reports")

    # Then a generic 500 problem answers, revealing nothing of the error
    assert_problem(response, 500, "server-error", "Internal server error", "Something went wrong on our side.")
    assert b"Traceback" not in response.content
    assert b"secret internals" not in response.content
    assert b"RuntimeError" not in response.content
