"""Operations beyond polling (SPEC §17): a long poll (`Prefer: wait=N`), `Retry-After` as an estimate, result reuse
(`reuse_within`) and signed download links."""

import json
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import django_rq
import httpx
import jwt
import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from rest_framework.authtoken.models import Token
from rest_framework.test import APIRequestFactory, force_authenticate
from rq.worker_registration import WORKERS_BY_QUEUE_KEY

from client import ReportsClient
from events.models import Event
from reports import estimates
from reports.api.long_poll import long_pollable
from reports.api.views import ReportDetailApi
from reports.links import download_token
from reports.models import Report, ReportStatus, ReportTypeConfig
from reports.services import report_create, report_render
from tests.conftest import client_for, process_env, staff_browser_for
from tests.notify_helpers import run_message_deliveries
from tests.testapp.report_types import TEST_PERMISSION

BODY = {"report_type": "user_access", "parameters": {}}


def _succeeded(user) -> Report:
    report = report_create(user=user, report_type="user_access", parameters={})
    return report_render(report.id)


# --- Signed download links -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_succeeded_reports_download_url_needs_no_other_credentials(api, user):
    report = _succeeded(user)

    link = api.get(f"/api/v1/reports/{report.id}").json()["file"]["download_url"]
    response = Client().get(link)

    assert link.startswith(f"http://testserver/api/v1/reports/{report.id}/download?token=")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Cache-Control"] == "private, no-store"
    assert response["Referrer-Policy"] == "no-referrer"
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def _token_of(link: str) -> str:
    return link.split("token=", 1)[1]


def _refused(response) -> str:
    assert response.status_code == 403, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["type"] == "urn:reportsite:problem:link-refused"
    return body["detail"]


@pytest.mark.django_db
def test_a_tampered_an_expired_or_another_reports_token_is_refused(api, user, monkeypatch):
    first, second = _succeeded(user), _succeeded(user)
    token = _token_of(api.get(f"/api/v1/reports/{first.id}").json()["file"]["download_url"])
    signature = token.rsplit(".", 1)[1]
    flipped = token[: -len(signature)] + signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    monkeypatch.setattr("reports.links._now", lambda: datetime.now(UTC) - timedelta(hours=2))
    stale = _token_of(api.get(f"/api/v1/reports/{first.id}").json()["file"]["download_url"])
    browser = Client()

    assert "not valid" in _refused(browser.get(f"/api/v1/reports/{first.id}/download?token={flipped}"))
    assert "not valid" in _refused(browser.get(f"/api/v1/reports/{first.id}/download?token=x.y.z"))
    assert "not valid" in _refused(browser.get(f"/api/v1/reports/{first.id}/download"))
    assert "expired" in _refused(browser.get(f"/api/v1/reports/{first.id}/download?token={stale}"))
    assert "another report" in _refused(browser.get(f"/api/v1/reports/{second.id}/download?token={token}"))


@pytest.mark.django_db
def test_the_algorithm_is_pinned_and_the_key_is_the_links_own(user, settings):
    report = _succeeded(user)
    claims = {"aud": "report-download", "rid": report.id, "sub": str(user.pk), "exp": int(time.time()) + 600}
    forged = [
        jwt.encode(claims, "", algorithm="none"),  # no signature at all
        jwt.encode(claims, settings.SECRET_KEY, algorithm="HS256"),  # the site's key itself, not the links' key
        jwt.encode(claims, "x" * 64, algorithm="HS512"),  # another algorithm
        jwt.encode({**claims, "aud": "something-else"}, "x" * 32, algorithm="HS256"),
    ]

    for token in forged:
        _refused(Client().get(f"/api/v1/reports/{report.id}/download?token={token}"))


@pytest.mark.django_db
def test_links_made_before_a_key_rotation_work_while_the_old_key_is_a_fallback(api, user, settings):
    report = _succeeded(user)
    settings.SECRET_KEY = "the-old-key-" + "o" * 40
    link = api.get(f"/api/v1/reports/{report.id}").json()["file"]["download_url"]

    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = "the-new-key-" + "n" * 40, ["the-old-key-" + "o" * 40]
    assert Client().get(link).status_code == 200

    settings.SECRET_KEY_FALLBACKS = []
    _refused(Client().get(link))


@pytest.mark.django_db
def test_the_link_of_an_expired_report_is_gone(api, user):
    report = _succeeded(user)
    link = api.get(f"/api/v1/reports/{report.id}").json()["file"]["download_url"]
    Report.objects.filter(pk=report.pk).update(status=ReportStatus.EXPIRED)

    response = Client().get(link)

    assert response.status_code == 410
    assert response.json()["type"] == "urn:reportsite:problem:file-expired"


@pytest.mark.django_db
def test_the_link_opens_only_its_owners_report(user, make_user):
    report = _succeeded(user)
    claims_of_bob = {"aud": "report-download", "rid": report.id, "sub": str(make_user("bob").pk)}
    token = download_token(claims_of_bob["rid"], claims_of_bob["sub"])

    assert Client().get(f"/api/v1/reports/{report.id}/download?token={token}").status_code == 404


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_queues")
def test_the_succeeded_event_and_the_email_carry_a_working_link(make_user, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = 0  # too big to attach: the email links it
    settings.SITE_URL = "http://testserver"
    ada = make_user("ada", email="ada@example.com")
    report = _succeeded(ada)

    envelope = json.loads(Event.objects.get(report=report, type="report.succeeded").envelope_json)
    run_message_deliveries()

    event_link = envelope["data"]["report"]["file"]["download_url"]
    [email] = mail.outbox
    [email_link] = [word for word in email.body.split() if "/download?token=" in word]
    for link in (event_link, email_link):
        assert Client().get(link).status_code == 200
    assert "works without signing in for an hour" in email.alternatives[0][0]


# --- Result reuse --------------------------------------------------------------------------------------------------


def _post(client, body: dict, **headers):
    return client.post("/api/v1/reports", body, format="json", **headers)


@pytest.mark.django_db
def test_a_request_like_a_pending_report_reuses_it_and_creates_nothing(api, user):
    first = _post(api, BODY)
    # The same effective parameters: the defaults written out are the defaults
    again = _post(api, {**BODY, "parameters": {"include_inactive": True}, "reuse_within": 60})

    assert first.status_code == 201
    assert again.status_code == 200
    assert again["Report-Reused"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert again["Location"] == first["Location"]
    assert Report.objects.count() == 1


@pytest.mark.django_db
def test_what_is_not_alike_recent_and_kept_is_built_anew(api, user, make_user):
    done = _succeeded(user)
    other = _post(api, {**BODY, "parameters": {"staff_only": True}, "reuse_within": 60})
    recent = _post(api, {**BODY, "reuse_within": 60})
    assert (other.status_code, recent.status_code) == (201, 200)
    assert recent.json()["id"] == done.id

    Report.objects.filter(pk__in=[done.pk, other.json()["id"]]).update(finished_at=timezone.now())
    Report.objects.exclude(pk=done.pk).update(status=ReportStatus.FAILED)
    Report.objects.filter(pk=done.pk).update(finished_at=timezone.now() - timedelta(minutes=5))
    stale = _post(api, {**BODY, "reuse_within": 60})
    Report.objects.filter(pk=done.pk).update(status=ReportStatus.EXPIRED, finished_at=timezone.now())
    expired = _post(client_for(user), {**BODY, "reuse_within": 600})
    theirs = _post(client_for(make_user("bob")), {**BODY, "reuse_within": 600})
    without = _post(api, BODY)

    assert stale.status_code == 201  # succeeded, but longer ago than asked
    assert expired.status_code == 200 and expired.json()["id"] == stale.json()["id"]  # the pending one, not the expired
    assert theirs.status_code == 201  # another user's report is never reused
    assert without.status_code == 201 and "Report-Reused" not in without


@pytest.mark.django_db
def test_reuse_follows_the_admins_defaults(api, user):
    ReportTypeConfig.objects.create(key="user_access", default_parameters={"staff_only": True})
    first = _post(api, BODY)

    again = _post(api, {**BODY, "parameters": {"staff_only": True}, "reuse_within": 60})

    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]


@pytest.mark.django_db
@pytest.mark.parametrize("value", [0, 86401, "soon", -5])
def test_reuse_within_out_of_range_is_a_400_naming_it(api, value):
    response = _post(api, {**BODY, "reuse_within": value})

    assert response.status_code == 400
    assert "reuse_within" in response.json()["errors"]
    assert Report.objects.count() == 0


@pytest.mark.django_db
def test_an_idempotent_reuse_replays_its_200(api):
    first = _post(api, BODY)
    reused = _post(api, {**BODY, "reuse_within": 60}, HTTP_IDEMPOTENCY_KEY="k-9")
    replayed = _post(api, {**BODY, "reuse_within": 60}, HTTP_IDEMPOTENCY_KEY="k-9")

    assert reused.status_code == replayed.status_code == 200
    assert replayed["Report-Reused"] == "true" and replayed["Idempotent-Replayed"] == "true"
    assert replayed.json()["id"] == first.json()["id"]


@pytest.mark.django_db
def test_the_ui_offers_a_like_report_before_building_another(user):
    browser = staff_browser_for(user)
    form = {"include_inactive": "on"}
    created = browser.post("/reports/new/user_access/", form)
    offered = browser.post("/reports/new/user_access/", form)
    built = browser.post("/reports/new/user_access/", {**form, "build_new": "1"})

    [first, second] = Report.objects.order_by("created_at")
    assert created.status_code == 302
    assert offered.status_code == 200
    html = offered.content.decode()
    assert "A report like this" in html and "is already queued" in html
    assert f'href="/reports/{first.id}/"' in html and 'name="build_new"' in html
    assert built.status_code == 302 and built["Location"] == f"/reports/{second.id}/"


# --- Retry-After, an estimate --------------------------------------------------------------------------------------


@pytest.fixture
def reports_queue():
    queue = django_rq.get_queue("reports")
    connection = queue.connection
    keys = [estimates.BUILD_TIMES_KEY.format("user_access"), WORKERS_BY_QUEUE_KEY % queue.name]

    def clean():
        queue.empty()
        connection.delete(*keys)
        estimates.forget_figures()

    clean()
    yield queue
    clean()


def _retry_after(api, report_id: str) -> int:
    estimates.forget_figures()
    return int(api.get(f"/api/v1/reports/{report_id}")["Retry-After"])


@pytest.mark.django_db
def test_retry_after_grows_with_the_backlog_and_shrinks_with_workers(
    api, user, reports_queue, django_capture_on_commit_callbacks
):
    for seconds in (1.5, 2.0, 9.0):  # the median is 2 s
        estimates.build_time_record("user_access", seconds)
    with django_capture_on_commit_callbacks(execute=True):
        alone = report_create(user=user, report_type="user_access", parameters={})
    first = _retry_after(api, alone.id)

    reports_queue.connection.rpush(reports_queue.key, *[f"rep_ahead{n}" for n in range(5)])
    with django_capture_on_commit_callbacks(execute=True):
        behind = report_create(user=user, report_type="user_access", parameters={"staff_only": True})
    one_worker = _retry_after(api, behind.id)
    reports_queue.connection.sadd(WORKERS_BY_QUEUE_KEY % reports_queue.name, "w1", "w2", "w3")
    three_workers = _retry_after(api, behind.id)

    assert first == 2  # nothing ahead: its own build
    assert one_worker == 14  # six builds ahead, then its own, at 2 s each
    assert three_workers == 6  # the six shared among three workers
    assert _retry_after(api, alone.id) == 2


@pytest.mark.django_db
def test_a_running_reports_retry_after_is_what_its_type_usually_has_left(api, user, reports_queue):
    for _ in range(3):
        estimates.build_time_record("user_access", 10.0)
    report = report_create(user=user, report_type="user_access", parameters={})
    Report.objects.filter(pk=report.pk).update(
        status=ReportStatus.RUNNING, started_at=timezone.now() - timedelta(seconds=4)
    )
    late = report_create(user=user, report_type="user_access", parameters={"staff_only": True})
    Report.objects.filter(pk=late.pk).update(
        status=ReportStatus.RUNNING, started_at=timezone.now() - timedelta(minutes=5)
    )

    assert _retry_after(api, report.id) in (6, 7)
    assert _retry_after(api, late.id) == 1  # late, not done: ask again soon


@pytest.mark.django_db
def test_retry_after_has_a_ceiling_and_a_fallback(api, user, reports_queue, settings, monkeypatch):
    estimates.build_time_record("user_access", 500.0)
    report = report_create(user=user, report_type="user_access", parameters={})
    settings.REPORT_RETRY_AFTER_MAX = 120
    assert _retry_after(api, report.id) == 120

    def down(*args, **kwargs):
        raise RedisConnectionError("down")

    monkeypatch.setattr(estimates, "_figures_of", down)
    settings.REPORT_POLL_RETRY_AFTER = 3
    assert _retry_after(api, report.id) == 3


@pytest.mark.django_db
def test_a_finished_build_is_recorded_for_the_estimates(user, reports_queue):
    _succeeded(user)

    times = reports_queue.connection.lrange(estimates.BUILD_TIMES_KEY.format("user_access"), 0, -1)

    assert len(times) == 1 and 0 < float(times[0]) < 60


# --- Long poll -----------------------------------------------------------------------------------------------------


def _long_poll(base: str, token: str, report_id: str, wait: int) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    response = httpx.get(
        f"{base}/api/v1/reports/{report_id}",
        headers={"Authorization": f"Token {token}", "Prefer": f"wait={wait}"},
        timeout=wait + 10,
    )
    return response, time.monotonic() - started


def _token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


@pytest.mark.django_db(transaction=True)
def test_a_long_poll_answers_when_the_report_finishes(live_server_url, make_user, rq_worker):
    ada = make_user("ada", perms=(TEST_PERMISSION,))
    created = client_for(ada).post(
        "/api/v1/reports", {"report_type": "test_slow", "parameters": {"seconds": 0.5}}, format="json"
    )

    response, took = _long_poll(live_server_url, _token(ada), created.json()["id"], 30)

    assert response.status_code == 200
    assert response.json()["status"] == "succeeded"
    assert response.headers["Preference-Applied"] == "wait=30"
    assert "Prefer" in response.headers["Vary"]
    assert "Retry-After" not in response.headers
    assert took < 20  # it answered as the report finished, not when the 30 s were up


@pytest.mark.django_db(transaction=True)
def test_with_no_worker_a_long_poll_answers_after_its_wait_still_pending(live_server_url, user):
    report = report_create(user=user, report_type="user_access", parameters={})

    response, took = _long_poll(live_server_url, _token(user), report.id, 2)

    assert response.status_code == 200
    assert response.json()["status"] == "queued"
    assert response.headers["Preference-Applied"] == "wait=2"
    assert int(response.headers["Retry-After"]) >= 1
    assert took >= 2  # held for the whole wait


@pytest.mark.django_db(transaction=True)
def test_held_long_polls_take_no_thread_from_other_requests(live_server_url, user):
    report = report_create(user=user, report_type="user_access", parameters={})
    token = _token(user)
    answers: list[httpx.Response] = []
    polls = [
        threading.Thread(target=lambda: answers.append(_long_poll(live_server_url, token, report.id, 6)[0]))
        for _ in range(20)
    ]
    for poll in polls:
        poll.start()
    time.sleep(1)  # all twenty are held by now

    me = httpx.get(f"{live_server_url}/api/v1/me", headers={"Authorization": f"Token {token}"}, timeout=10)
    answered_meanwhile = len(answers)
    for poll in polls:
        poll.join(20)

    assert me.status_code == 200 and answered_meanwhile == 0
    assert len(answers) == 20 and {answer.headers["Preference-Applied"] for answer in answers} == {"wait=6"}


@pytest.mark.django_db(transaction=True)
def test_the_wait_is_capped_and_others_reports_are_not_waited_for(user, make_user, settings):
    settings.REPORT_MAX_WAIT_SECONDS = 1
    mine = report_create(user=user, report_type="user_access", parameters={})
    theirs = report_create(user=make_user("bob"), report_type="user_access", parameters={})
    api = client_for(user)

    capped = api.get(f"/api/v1/reports/{mine.id}", HTTP_PREFER="respond-async, wait=999")
    foreign = api.get(f"/api/v1/reports/{theirs.id}", HTTP_PREFER="wait=999")
    anonymous = Client().get(f"/api/v1/reports/{mine.id}", HTTP_PREFER="wait=999")

    assert capped.status_code == 200 and capped["Preference-Applied"] == "wait=1"
    assert foreign.status_code == 404 and "Preference-Applied" not in foreign
    assert anonymous.status_code == 401 and "Preference-Applied" not in anonymous


def test_where_long_polls_are_off_the_view_is_synchronous_and_answers_at_once(user, settings):
    settings.REPORT_LONG_POLL = False
    view = ReportDetailApi.as_view()
    report = report_create(user=user, report_type="user_access", parameters={})

    served = long_pollable(view)
    request = APIRequestFactory().get(f"/api/v1/reports/{report.id}", HTTP_PREFER="wait=5")
    force_authenticate(request, user=user)
    answer = served(request, report_id=report.id)

    assert served is view
    assert answer.status_code == 200 and answer.data["status"] == "queued"
    assert "Preference-Applied" not in answer


def test_the_wsgi_entry_point_turns_long_polls_off():
    shown = subprocess.run(
        [
            sys.executable,
            "-c",
            "import reportsite.wsgi; from django.conf import settings; print(settings.REPORT_LONG_POLL)",
        ],
        env=process_env(DJANGO_DEBUG="1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert shown.stdout.strip() == "False", shown.stderr


@pytest.mark.django_db(transaction=True)
def test_without_the_live_group_a_long_poll_answers_at_once(user, monkeypatch):
    report = report_create(user=user, report_type="user_access", parameters={})

    async def unreachable(*args, **kwargs):
        raise RedisConnectionError("Redis is down")
        yield  # an async generator, as follow_events is

    monkeypatch.setattr("reports.api.long_poll.follow_events", unreachable)

    response = client_for(user).get(f"/api/v1/reports/{report.id}", HTTP_PREFER="wait=30")

    assert response.status_code == 200 and response.json()["status"] == "queued"
    assert "Preference-Applied" not in response


@pytest.mark.django_db(transaction=True)
def test_the_clients_wait_long_polls_with_one_request(live_server_url, make_user, rq_worker):
    ada = make_user("ada", perms=(TEST_PERMISSION,))
    with ReportsClient(live_server_url, _token(ada)) as client:
        report = client.submit("test_slow", {"seconds": 1})
        sent = []
        original = client.request
        client.request = lambda method, path, **kwargs: (
            sent.append(kwargs.get("headers")) or original(method, path, **kwargs)
        )

        finished = client.wait(report["id"], timeout=60)

    assert finished["status"] == "succeeded"
    assert sent == [{"Prefer": "wait=25"}]


def test_the_detail_operation_documents_the_long_poll(api):
    schema = api.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    operation = schema["paths"]["/api/v1/reports/{report_id}"]["get"]
    assert "Prefer" in {parameter["name"] for parameter in operation["parameters"]}
    assert "Preference-Applied" in operation["responses"]["200"]["headers"]


@pytest.mark.django_db(transaction=True)
def test_a_long_poll_ended_by_the_reports_end_answers_what_a_get_answers(user):
    report = report_create(user=user, report_type="user_access", parameters={})
    api = client_for(user)
    renderer = threading.Timer(0.5, report_render, args=(report.id,))
    renderer.start()

    held = api.get(f"/api/v1/reports/{report.id}", HTTP_PREFER="wait=20")
    renderer.join()
    plain = api.get(f"/api/v1/reports/{report.id}")

    assert held.status_code == plain.status_code == 200
    assert held.json()["status"] == "succeeded"
    assert _without_token(held.json()) == _without_token(plain.json())
    assert held["Content-Type"] == plain["Content-Type"] and held["Allow"] == plain["Allow"]
    assert held["Preference-Applied"] == "wait=20" and "Retry-After" not in held


def _without_token(report: dict) -> dict:
    return {**report, "file": {**report["file"], "download_url": report["file"]["download_url"].split("token=")[0]}}
