"""GraphQL over HTTP (SPEC §16): the same services, rules and scoping as the REST API, errors with
`extensions.code`, limits on abusive documents, GraphiQL for a signed-in browser and the SDL."""

import json
from pathlib import Path

import django_rq
import pytest
from django.core.cache import cache
from django.test import Client
from graphql import get_introspection_query

from events.models import Event
from graphapi.schema import schema
from reports.models import IdempotencyKey, Report, ReportStatus
from reports.services import report_create, report_render
from tests.conftest import client_for
from tests.testapp.report_types import TEST_PERMISSION

pytestmark = pytest.mark.django_db

SDL_FILE = Path(__file__).resolve().parent.parent / "graphapi" / "schema.graphql"
REPORT_FIELDS = (
    "id reportType parameters status progress createdAt startedAt finishedAt url error { code message } "
    "file { url sizeBytes pages sha256 }"
)
REQUEST = """mutation Request($input: RequestReportInput!) {
  requestReport(input: $input) { report { id status reportType parameters } errors { field message code } replayed }
}"""


def gql(client, query: str, variables: dict | None = None, **extra) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}})
    response = client.post("/graphql", body, content_type="application/json", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


def codes(body: dict) -> list[str]:
    return [error["extensions"]["code"] for error in body.get("errors", [])]


# --- Queries -------------------------------------------------------------------------------------------------------


def test_a_report_reads_as_the_rest_api_shows_it(api, user):
    report = report_create(user=user, report_type="user_access", parameters={})
    report_render(report.id)
    rest = api.get(f"/api/v1/reports/{report.id}").json()

    body = gql(api, f'{{ report(id: "{report.id}") {{ {REPORT_FIELDS} }} }}')

    shown = body["data"]["report"]
    assert "errors" not in body
    assert shown["id"] == rest["id"] and shown["url"] == rest["url"]
    assert (shown["reportType"], shown["parameters"], shown["status"]) == (
        rest["report_type"],
        rest["parameters"],
        "SUCCEEDED",
    )
    assert shown["file"] == {
        "url": rest["file"]["url"],
        "sizeBytes": rest["file"]["size_bytes"],
        "pages": rest["file"]["pages"],
        "sha256": rest["file"]["sha256"],
    }
    assert shown["error"] is None and shown["progress"] == 100
    assert shown["finishedAt"].startswith(rest["finished_at"][:19])


def test_me_and_the_report_types_are_the_callers(user, make_user):
    api = client_for(make_user("grace", perms=("auth.view_user", TEST_PERMISSION)))

    body = gql(api, "{ me { username isStaff } reportTypes { key title parametersSchema } }")

    assert body["data"]["me"] == {"username": "grace", "isStaff": False}
    keys = {item["key"] for item in body["data"]["reportTypes"]}
    assert {"user_access", "test_slow"} <= keys
    slow = next(item for item in body["data"]["reportTypes"] if item["key"] == "test_slow")
    assert slow["parametersSchema"]["properties"]["seconds"]["maximum"] == 30
    # Ada lacks the test types' permission: they are not hers to see
    assert "test_slow" not in {
        item["key"] for item in gql(client_for(user), "{ reportTypes { key } }")["data"]["reportTypes"]
    }


def test_another_users_report_and_an_unknown_id_are_both_not_found(user, make_user):
    theirs = report_create(user=make_user("bob"), report_type="user_access", parameters={})

    for report_id in (theirs.id, "rep_doesnotexist00000000000", "../etc"):
        body = gql(client_for(user), f'{{ report(id: "{report_id}") {{ id status }} }}')
        assert body["data"]["report"] is None
        assert codes(body) == ["NOT_FOUND"]
        assert body["errors"][0]["path"] == ["report"]


def test_without_credentials_every_field_is_unauthenticated():
    for client in (Client(), client_for_token("not-a-token")):
        body = gql(client, "{ me { username } }")
        assert body["data"] is None
        assert codes(body) == ["UNAUTHENTICATED"]


def client_for_token(key: str) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Token {key}")


def test_reports_are_a_connection_newest_first_filtered_and_paged(api, user, make_user):
    made = [report_create(user=user, report_type="user_access", parameters={}) for _ in range(5)]
    report_render(made[0].id)
    report_create(user=make_user("bob"), report_type="user_access", parameters={})
    query = """query Page($after: String) {
      reports(first: 2, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } }
    }"""

    seen, after = [], None
    for _ in range(3):
        page = gql(api, query, {"after": after})["data"]["reports"]
        seen += [edge["node"]["id"] for edge in page["edges"]]
        after = page["pageInfo"]["endCursor"]
        if not page["pageInfo"]["hasNextPage"]:
            break

    assert seen == [report.id for report in reversed(made)]
    succeeded = gql(api, "{ reports(status: SUCCEEDED) { nodes { id status } } }")["data"]["reports"]["nodes"]
    assert succeeded == [{"id": made[0].id, "status": "SUCCEEDED"}]
    assert gql(api, '{ reports(reportType: "model_table") { nodes { id } } }')["data"]["reports"]["nodes"] == []


@pytest.mark.parametrize(
    ("arguments", "field"), [("first: 0", "first"), ("first: 101", "first"), ('after: "x!"', "after")]
)
def test_a_bad_page_argument_is_a_validation_error_naming_it(api, arguments, field):
    body = gql(api, f"{{ reports({arguments}) {{ nodes {{ id }} }} }}")

    assert codes(body) == ["VALIDATION"]
    assert body["errors"][0]["extensions"]["field"] == field


def test_fifty_reports_with_file_and_error_take_at_most_three_queries(api, user, django_assert_max_num_queries):
    reports = [report_create(user=user, report_type="user_access", parameters={}) for _ in range(50)]
    report_render(reports[0].id)
    Report.objects.filter(pk=reports[1].pk).update(status=ReportStatus.FAILED, error_code="boom", error_message="No.")
    query = f"{{ reports(first: 50) {{ edges {{ cursor node {{ {REPORT_FIELDS} }} }} pageInfo {{ hasNextPage }} }} }}"

    with django_assert_max_num_queries(3):
        body = gql(api, query)

    nodes = [edge["node"] for edge in body["data"]["reports"]["edges"]]
    assert len(nodes) == 50
    assert nodes[-1]["file"]["sizeBytes"] > 0
    assert nodes[-2]["error"] == {"code": "boom", "message": "No."}


def test_events_read_and_resume_as_the_rest_api(api, user, make_user):
    report = report_create(user=user, report_type="user_access", parameters={})
    report_render(report.id)
    logged = list(Event.objects.filter(user=user).order_by("sequence"))

    newest = gql(api, "{ events(first: 2) { id type sequence report { id status } } }")["data"]["events"]
    resumed = gql(api, "query($after: String) { events(after: $after) { id sequence } }", {"after": logged[0].id})

    assert [event["id"] for event in newest] == [logged[-1].id, logged[-2].id]
    assert newest[0]["report"] == {"id": report.id, "status": "SUCCEEDED"}
    assert [event["id"] for event in resumed["data"]["events"]] == [event.id for event in logged[1:]]
    theirs = Event.objects.create(
        user=make_user("bob"), type="ping", sequence=1, envelope_json="{}", created_at=logged[0].created_at
    )
    for cursor in (theirs.id, "evt_unknown"):
        body = gql(api, "query($after: String) { events(after: $after) { id } }", {"after": cursor})
        assert codes(body) == ["CURSOR_EXPIRED"]


# --- Mutations -----------------------------------------------------------------------------------------------------


def test_request_report_creates_a_queued_report_through_the_service(api, user, django_capture_on_commit_callbacks):
    queue = django_rq.get_queue("reports")
    queue.empty()
    with django_capture_on_commit_callbacks(execute=True):
        body = gql(api, REQUEST, {"input": {"reportType": "user_access", "parameters": {}, "notify": {"email": False}}})

    answer = body["data"]["requestReport"]
    assert answer["errors"] == [] and answer["replayed"] is False
    report = Report.objects.get(pk=answer["report"]["id"])
    assert (report.requested_by, report.status, report.notify) == (user, ReportStatus.QUEUED, {"email": False})
    assert Event.objects.filter(report=report, type="report.queued").count() == 1
    assert report.id in queue.job_ids
    queue.empty()


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"reportType": "no_such_type"}, "reportType"),
        ({"reportType": "user_access", "callbackUrl": "not a url"}, "callbackUrl"),
        ({"reportType": "user_access", "parameters": {"surprise": 1}}, "parameters.surprise"),
        ({"reportType": "user_access", "parameters": [1]}, "parameters"),
        ({"reportType": "user_access", "idempotencyKey": "has space"}, "idempotencyKey"),
    ],
)
def test_bad_input_is_answered_in_errors_naming_the_field_and_creates_nothing(api, given, field):
    answer = gql(api, REQUEST, {"input": given})["data"]["requestReport"]

    assert answer["report"] is None
    assert [error["field"] for error in answer["errors"]] == [field]
    assert answer["errors"][0]["code"] == "VALIDATION" and answer["errors"][0]["message"]
    assert Report.objects.count() == 0


def test_a_type_the_caller_may_not_use_is_forbidden(api):
    body = gql(api, REQUEST, {"input": {"reportType": "test_slow"}})

    assert body["data"] is None or body["data"]["requestReport"] is None
    assert codes(body) == ["FORBIDDEN"]
    assert Report.objects.count() == 0


def test_an_idempotency_key_replays_the_first_answer_and_creates_nothing_more(api, user):
    given = {"reportType": "user_access", "parameters": {}, "idempotencyKey": "order-1234"}

    first = gql(api, REQUEST, {"input": given})["data"]["requestReport"]
    again = gql(api, REQUEST, {"input": given})["data"]["requestReport"]
    other = gql(api, REQUEST, {"input": {**given, "parameters": {"include_inactive": True}}})

    assert again["report"]["id"] == first["report"]["id"] and again["replayed"] is True
    assert Report.objects.count() == 1
    assert codes(other) == ["CONFLICT"]
    # The key is the user's, shared with the REST API, but a GraphQL request and a POST are not the same request
    rest = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json", HTTP_IDEMPOTENCY_KEY="order-1234")
    assert rest.status_code == 422
    assert IdempotencyKey.objects.filter(user=user).count() == 1


def test_past_the_rate_a_request_is_rate_limited_with_retry_after(api, settings):
    settings.REPORT_CREATE_RATE = "2/min"
    cache.clear()
    for _ in range(2):
        assert gql(api, REQUEST, {"input": {"reportType": "user_access"}})["data"]["requestReport"]["report"]

    body = gql(api, REQUEST, {"input": {"reportType": "user_access"}})

    assert codes(body) == ["RATE_LIMITED"]
    assert 1 <= body["errors"][0]["extensions"]["retryAfter"] <= 60
    assert Report.objects.count() == 2


def test_over_the_backlog_a_request_is_shed_as_overloaded(api, settings):
    queue = django_rq.get_queue("reports")
    queue.empty()
    settings.REPORT_QUEUE_MAX_BACKLOG = 1
    queue.connection.rpush(queue.key, "rep_backlog1", "rep_backlog2")
    try:
        body = gql(api, REQUEST, {"input": {"reportType": "user_access"}})
    finally:
        queue.empty()

    assert codes(body) == ["OVERLOADED"]
    assert body["errors"][0]["extensions"]["retryAfter"] == settings.REPORT_OVERLOAD_RETRY_AFTER
    assert Report.objects.count() == 0


def test_cancel_report_cancels_once_and_is_not_found_for_others(api, user, make_user):
    mine = report_create(user=user, report_type="user_access", parameters={})
    theirs = report_create(user=make_user("bob"), report_type="user_access", parameters={})
    cancel = "mutation($id: ID!) { cancelReport(id: $id) { report { id status } errors { field code message } } }"

    first = gql(api, cancel, {"id": mine.id})["data"]["cancelReport"]
    again = gql(api, cancel, {"id": mine.id})["data"]["cancelReport"]
    foreign = gql(api, cancel, {"id": theirs.id})

    assert first == {"report": {"id": mine.id, "status": "CANCELLED"}, "errors": []}
    assert again["errors"][0]["code"] == "NOT_CANCELLABLE"
    assert codes(foreign) == ["NOT_FOUND"]
    theirs.refresh_from_db()
    assert theirs.status == ReportStatus.QUEUED


# --- Limits and errors ---------------------------------------------------------------------------------------------


def test_a_query_nested_past_the_depth_limit_is_refused_before_it_runs(api, django_assert_max_num_queries):
    # The deepest query the schema has today is well within the limit
    assert "errors" not in gql(api, "{ reports { edges { node { file { url } } } } }")
    nested = "{ reports { edges { node { file { url { a { b { c { d { e } } } } } } } } } }"

    with django_assert_max_num_queries(1):  # the token; no resolver ran
        body = gql(api, nested)

    assert body["data"] is None
    assert set(codes(body)) == {"BAD_QUERY"}
    assert any("exceeds maximum operation depth of 8" in error["message"] for error in body["errors"])


def test_introspection_nested_past_its_own_limit_is_refused(api):
    # Introspection does not count towards the depth limit (GraphiQL's own query is deep); it has a limit of its own
    deep = "{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }"

    body = gql(api, deep)

    assert set(codes(body)) == {"BAD_QUERY"}
    assert any("introspection" in error["message"].lower() for error in body["errors"])


def test_too_many_aliases_and_tokens_are_refused(api):
    aliases = "{ " + " ".join(f"a{i}: me {{ username }}" for i in range(30)) + " }"
    tokens = "{ me { " + " ".join(["username"] * 1500) + " } }"

    for query in (aliases, tokens):
        body = gql(api, query)
        assert body["data"] is None
        assert codes(body) == ["BAD_QUERY"]


def test_a_batch_of_operations_is_refused(api):
    # One request, one operation: a batch would multiply every limit above by its length
    batch = json.dumps([{"query": "{ me { username } }"}] * 3)

    response = api.post("/graphql", batch, content_type="application/json")

    assert response.status_code == 400
    assert response.json()["errors"][0]["extensions"]["code"] == "BAD_QUERY"


def test_graphiqls_introspection_query_is_within_the_limits(api):
    body = gql(api, get_introspection_query(descriptions=True))

    assert "errors" not in body
    assert body["data"]["__schema"]["queryType"]["name"] == "Query"


def test_an_unexpected_failure_is_internal_without_its_details(api, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("password=hunter2 in a connection string")

    monkeypatch.setattr("reports.selectors.report_list", broken)

    body = gql(api, "{ reports { nodes { id } } }")

    assert codes(body) == ["INTERNAL"]
    assert "hunter2" not in str(body)
    assert "hunter2" in caplog.text  # logged for the operators, with its traceback


def test_a_body_over_the_limit_is_a_413_in_graphqls_shape(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000

    response = api.post("/graphql", {"query": "{ me { username } }", "variables": {"x": "y" * 2000}}, format="json")

    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


def test_a_query_may_come_by_get_but_a_mutation_may_not(api):
    read = api.get("/graphql", {"query": "{ me { username } }"})
    write = api.get(
        "/graphql", {"query": 'mutation { requestReport(input: {reportType: "user_access"}) { errors { field } } }'}
    )

    assert read.json() == {"data": {"me": {"username": "ada"}}}
    assert write.status_code == 400 and write["Content-Type"] == "application/json"
    assert write.json()["errors"] == [
        {"message": "mutations are not allowed when using GET", "extensions": {"code": "BAD_QUERY"}}
    ]
    assert Report.objects.count() == 0


# --- The browser: session, CSRF, GraphiQL --------------------------------------------------------------------------


def test_a_session_write_needs_the_csrf_token(user):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(user)
    page = browser.get("/graphql", HTTP_ACCEPT="text/html")
    token = page.cookies["csrftoken"].value

    refused = browser.post(
        "/graphql", {"query": REQUEST, "variables": {"input": {"reportType": "user_access"}}}, "application/json"
    )
    accepted = browser.post(
        "/graphql",
        {"query": REQUEST, "variables": {"input": {"reportType": "user_access"}}},
        "application/json",
        HTTP_X_CSRFTOKEN=token,
    )

    assert refused.status_code == 403 and refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert accepted.status_code == 200 and accepted.json()["data"]["requestReport"]["report"]["status"] == "QUEUED"
    assert Report.objects.count() == 1


def test_graphiql_is_served_to_a_signed_in_browser_and_others_are_sent_to_sign_in(user):
    browser = Client()
    signed_out = browser.get("/graphql", HTTP_ACCEPT="text/html")
    browser.force_login(user)
    signed_in = browser.get("/graphql", HTTP_ACCEPT="text/html")

    assert signed_out.status_code == 302 and signed_out["Location"].startswith("/accounts/login/?next=/graphql")
    assert signed_in.status_code == 200
    assert b"GraphiQL" in signed_in.content and b"csrftoken" in signed_in.content


# --- The schema ----------------------------------------------------------------------------------------------------


def test_the_committed_sdl_is_the_schema_of_the_code():
    # On failure: `python manage.py graphql_schema` writes graphapi/schema.graphql from the code.
    assert SDL_FILE.read_text() == schema.as_str() + "\n"


def test_the_sdl_is_served(client):
    response = client.get("/graphql/schema.graphql")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert response.content.decode() == SDL_FILE.read_text()
    assert "reportEvents(reportId: ID = null, after: String = null): ReportEvent!" in response.content.decode()
