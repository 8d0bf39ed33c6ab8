"""Another user's report does not exist as far as the API is concerned (SPEC §4: another user's object is 404),
whatever the verb; and the browser session authenticates, with CSRF protection on writes."""

import pytest
from rest_framework.test import APIClient

from reports.models import Report
from reports.services import report_create
from tests.conftest import client_for

PROBLEM = "application/problem+json"
NOT_FOUND = {
    "type": "urn:reportsite:problem:not-found",
    "title": "Not found",
    "status": 404,
    "detail": "No such resource.",
}

# (verb, sub-resource, what the owner gets for a queued report of theirs)
VERBS = [
    ("get", "", 200),
    ("head", "", 200),
    ("put", "", 405),
    ("patch", "", 405),
    ("delete", "", 405),
    ("post", "", 405),
    ("get", "/file", 409),
    ("post", "/file", 405),
    ("put", "/file", 405),
    ("delete", "/file", 405),
    ("post", "/cancel", 200),
    ("get", "/cancel", 405),
    ("put", "/cancel", 405),
    ("delete", "/cancel", 405),
]
VERB_IDS = [f"{verb.upper()} {suffix or '/'}" for verb, suffix, _ in VERBS]


@pytest.fixture
def bob(make_user):
    return make_user("bob")


@pytest.fixture
def bobs_report(bob) -> Report:
    return report_create(user=bob, report_type="user_access", parameters={"staff_only": True})


def call(client: APIClient, verb: str, path: str):
    if verb in {"put", "patch", "post"}:
        return getattr(client, verb)(path, {"status": "cancelled"}, format="json")
    return getattr(client, verb)(path)


@pytest.mark.django_db
@pytest.mark.parametrize(("verb", "suffix", "owner_status"), VERBS, ids=VERB_IDS)
def test_another_users_report_is_404_on_every_verb(verb, suffix, owner_status, api, bobs_report):
    # Given Bob's queued report, and Ada (the api client) who knows its id
    path = f"/api/v1/reports/{bobs_report.id}{suffix}"

    # When Ada uses it with any verb, supported or not
    response = call(api, verb, path)

    # Then she gets the 404 problem, exactly as for an id that does not exist
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    made_up = call(api, verb, f"/api/v1/reports/rep_{'x' * 24}{suffix}")
    assert made_up.status_code == 404
    if verb != "head":
        assert response.json() == NOT_FOUND == made_up.json()
    # And Bob's report is untouched
    bobs_report.refresh_from_db()
    assert (bobs_report.status, bobs_report.parameters) == ("queued", {"include_inactive": True, "staff_only": True})


@pytest.mark.django_db
@pytest.mark.parametrize(("verb", "suffix", "owner_status"), VERBS, ids=VERB_IDS)
def test_the_owner_gets_real_answers_for_the_same_ids(verb, suffix, owner_status, bob, bobs_report):
    # Given Bob and his queued report
    client = client_for(bob)

    # When Bob uses the same verb and path
    response = call(client, verb, f"/api/v1/reports/{bobs_report.id}{suffix}")

    # Then he gets the answer the resource gives its owner (200, 405 for a verb it does not support, 409 for the
    # file of a report not built yet)
    assert response.status_code == owner_status, response.content
    if owner_status == 405:
        assert response["Content-Type"] == PROBLEM
        assert response.json()["detail"] == f'Method "{verb.upper()}" not allowed.'
    if owner_status == 409:
        assert response.json()["detail"] == "The report is queued; its file is not available."
    if owner_status == 200 and verb != "head":
        assert response.json()["id"] == bobs_report.id
        expected_status = "cancelled" if suffix == "/cancel" else "queued"
        assert response.json()["status"] == expected_status
        bobs_report.refresh_from_db()
        assert bobs_report.status == expected_status


@pytest.mark.django_db
def test_list_holds_only_the_callers_reports(api, user, bob):
    # Given reports of Ada and of Bob, of the same type
    adas = [report_create(user=user, report_type="user_access", parameters={}) for _ in range(2)]
    bobs = [report_create(user=bob, report_type="user_access", parameters={}) for _ in range(3)]
    bobs[0].status = "succeeded"
    bobs[0].save(update_fields=["status"])

    # When Ada lists her reports, unfiltered and filtered to what only Bob has
    everything = api.get("/api/v1/reports").json()
    succeeded = api.get("/api/v1/reports?status=succeeded&report_type=user_access").json()

    # Then only hers appear, newest first
    assert [item["id"] for item in everything["results"]] == [adas[1].id, adas[0].id]
    assert everything["next"] is None
    assert succeeded == {"next": None, "previous": None, "results": []}
    # And Bob's list is his
    bobs_list = client_for(bob).get("/api/v1/reports").json()
    assert {item["id"] for item in bobs_list["results"]} == {report.id for report in bobs}


@pytest.mark.django_db
def test_session_login_authenticates_reads(user):
    # Given Ada signed in with her password, as in the browser
    client = APIClient()
    assert client.login(username="ada", password="pw-ada")
    mine = report_create(user=user, report_type="user_access", parameters={})

    # When she lists her reports without any token
    response = client.get("/api/v1/reports")

    # Then the session is enough
    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [mine.id]


@pytest.mark.django_db
def test_session_post_without_csrf_token_is_a_403_problem(user):
    # Given Ada signed in by session, with CSRF checks on as in a browser
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="ada", password="pw-ada")

    # When a page posts on her behalf without the CSRF token
    response = client.post("/api/v1/reports", {"report_type": "user_access"}, format="json")

    # Then it is refused as a 403 problem, and nothing was created
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM
    assert response.json() == {
        "type": "urn:reportsite:problem:forbidden",
        "title": "Forbidden",
        "status": 403,
        "detail": "CSRF Failed: CSRF cookie not set.",
    }
    assert Report.objects.count() == 0


@pytest.mark.django_db
def test_session_post_with_csrf_token_is_accepted(user):
    # Given Ada signed in by session, holding the CSRF cookie and sending its value back in the header
    client = APIClient(enforce_csrf_checks=True)
    assert client.login(username="ada", password="pw-ada")
    secret = "a1" * 16
    client.cookies["csrftoken"] = secret

    # When she posts
    response = client.post("/api/v1/reports", {"report_type": "user_access"}, format="json", HTTP_X_CSRFTOKEN=secret)

    # Then the report is created for her
    assert response.status_code == 201, response.content
    assert list(Report.objects.values_list("id", "requested_by__username")) == [(response.json()["id"], "ada")]
