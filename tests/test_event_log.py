"""The event log (SPEC §14) in this process: every change of a report is an event written with it, numbered per
user; the read API replays what came after a cursor; fan-out is idempotent and the sweep finishes what a dead
process left; one delivery engine serves any channel, a test's own included."""

import json
from collections.abc import Iterable, Iterator
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from events import channels
from events.channels import DeliveryChannel, Outcome, Target
from events.engine import run_deliveries
from events.fanout import events_sweep, fan_out
from events.log import event_record
from events.models import Delivery, DeliveryAttempt, DeliveryStatus, Event
from events.retention import events_purge
from reports.models import Report
from reports.services import report_cancel, report_create, report_fail, report_render
from tests.conftest import client_for

pytestmark = pytest.mark.django_db(transaction=True)

CURSOR_EXPIRED = "urn:reportsite:problem:events/cursor-expired"


@pytest.fixture
def bob(make_user):
    return make_user("bob")


def _types(events: Iterable[Event]) -> list[str]:
    return [event.type for event in events]


# --- Writing ---------------------------------------------------------------------------------------------------


def test_every_change_of_a_report_is_an_event_numbered_in_order(user):
    # When a report is requested, built, and another one cancelled
    built = report_render(report_create(user=user, report_type="user_access", parameters={}).id)
    cancelled = report_cancel(report=report_create(user=user, report_type="user_access", parameters={}))

    # Then the user's stream holds each change once, numbered 1, 2, 3... in the order they happened
    events = list(Event.objects.filter(user=user).order_by("sequence"))
    assert [(event.sequence, event.type, event.report_id) for event in events] == [
        (1, "report.queued", built.id),
        (2, "report.running", built.id),
        (3, "report.progress", built.id),
        (4, "report.succeeded", built.id),
        (5, "report.queued", cancelled.id),
        (6, "report.cancelled", cancelled.id),
    ]
    # And each envelope is §5's, with its sequence, the report as it was at that moment, and every channel marked done
    succeeded = events[3].envelope
    assert list(succeeded) == ["id", "type", "sequence", "timestamp", "data"]
    assert (succeeded["id"], succeeded["sequence"]) == (events[3].id, 4)
    assert succeeded["data"]["report"]["status"] == "succeeded"
    assert events[0].envelope["data"]["report"]["status"] == "queued"
    assert all(event.fanned_out_at is not None for event in events)


def test_a_change_that_rolls_back_leaves_no_event_and_no_number_used(user):
    # Given a request whose transaction fails after the report was stored
    with pytest.raises(RuntimeError), transaction.atomic():
        report_create(user=user, report_type="user_access", parameters={})
        raise RuntimeError("the rest of the request failed")

    # Then there is neither the report nor its event, and the next event takes number 1
    assert Report.objects.count() == 0
    assert Event.objects.count() == 0
    report = report_create(user=user, report_type="user_access", parameters={})
    assert list(Event.objects.values_list("sequence", "report_id")) == [(1, report.id)]


def test_a_refused_move_changes_nothing_and_writes_no_event(user):
    report = report_render(report_create(user=user, report_type="user_access", parameters={}).id)
    before = Event.objects.count()

    # When a finished report is failed (a late reaper) - the lifecycle refuses the move
    assert report_fail(report.id, code="worker_lost", message="late").status == "succeeded"

    assert Event.objects.count() == before


def test_each_users_stream_is_numbered_on_its_own(user, bob):
    report_create(user=user, report_type="user_access", parameters={})
    report_create(user=bob, report_type="user_access", parameters={})
    report_create(user=user, report_type="user_access", parameters={})

    assert list(Event.objects.filter(user=user).values_list("sequence", flat=True)) == [1, 2]
    assert list(Event.objects.filter(user=bob).values_list("sequence", flat=True)) == [1]


# --- Reading: the API -------------------------------------------------------------------------------------------


def _three_reports(user) -> list[Report]:
    return [report_create(user=user, report_type="user_access", parameters={}) for _ in range(3)]


def test_events_list_is_newest_first_with_type_and_report_filters(user, bob):
    first, second, _ = _three_reports(user)
    report_cancel(report=second)
    report_create(user=bob, report_type="user_access", parameters={})
    api = client_for(user)

    everything = api.get("/api/v1/events").json()
    assert [event["sequence"] for event in everything["results"]] == [4, 3, 2, 1]
    assert everything["results"][0] == Event.objects.get(user=user, sequence=4).envelope

    cancelled = api.get("/api/v1/events", {"type": "report.cancelled"}).json()["results"]
    assert [(event["type"], event["data"]["report"]["id"]) for event in cancelled] == [("report.cancelled", second.id)]
    two_types = api.get("/api/v1/events?type=report.cancelled&type=report.running").json()["results"]
    assert [event["sequence"] for event in two_types] == [4]
    of_first = api.get("/api/v1/events", {"report": first.id}).json()["results"]
    assert [(event["type"], event["sequence"]) for event in of_first] == [("report.queued", 1)]
    # Bob's report filters to nothing for Ada, rather than telling her it exists
    bobs = Report.objects.get(requested_by=bob)
    assert api.get("/api/v1/events", {"report": bobs.id}).json()["results"] == []


def test_events_list_pages_with_a_cursor(user):
    _three_reports(user)
    api = client_for(user)

    page = api.get("/api/v1/events", {"limit": 2}).json()
    assert [event["sequence"] for event in page["results"]] == [3, 2]
    rest = api.get(page["next"]).json()
    assert [event["sequence"] for event in rest["results"]] == [1]
    assert rest["next"] is None


def test_after_replays_every_later_event_oldest_first_with_a_next_link_while_pages_are_full(user):
    reports = _three_reports(user)
    report_cancel(report=reports[0])
    api = client_for(user)
    first = Event.objects.get(user=user, sequence=1)

    # When a client that saw the first event asks for what came after it
    page = api.get("/api/v1/events", {"after": first.id, "limit": 2}).json()

    # Then it gets 2 and 3, and a link that goes on after 3
    assert [event["sequence"] for event in page["results"]] == [2, 3]
    assert page["next"].startswith("http://testserver/api/v1/events?")
    rest = api.get(page["next"]).json()
    assert [(event["sequence"], event["type"]) for event in rest["results"]] == [(4, "report.cancelled")]
    assert rest["next"] is None
    # And once it has the newest one, there is nothing after it
    newest = rest["results"][-1]["id"]
    assert api.get("/api/v1/events", {"after": newest}).json() == {"next": None, "results": []}


@pytest.mark.parametrize(
    "cursor",
    ["evt_doesnotexist0000000000", "not an id", "%00", "rep_" + "a" * 24],
    ids=["unknown", "malformed", "nul", "a report id"],
)
def test_after_that_cannot_be_served_is_a_410_problem(user, cursor):
    _three_reports(user)

    response = client_for(user).get("/api/v1/events", {"after": cursor})

    assert response.status_code == 410, response.content
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert (body["type"], body["status"], body["title"]) == (CURSOR_EXPIRED, 410, "Cursor expired")
    assert body["type"].endswith("/cursor-expired")


def test_after_of_another_user_is_a_410_problem_and_leaks_nothing(user, bob):
    report_create(user=bob, report_type="user_access", parameters={})
    bobs_event = Event.objects.get(user=bob)
    _three_reports(user)

    api = client_for(user)
    response = api.get("/api/v1/events", {"after": bobs_event.id})
    unknown = "evt_" + "z" * 24
    made_up = api.get("/api/v1/events", {"after": unknown})

    # Then the answer is the one an id that never existed gets: nothing tells Ada that Bob's event is real
    assert response.status_code == made_up.status_code == 410
    assert response.json() == {**made_up.json(), "detail": made_up.json()["detail"].replace(unknown, bobs_event.id)}


def test_after_past_retention_is_a_410_problem(user, settings):
    _three_reports(user)
    first = Event.objects.get(user=user, sequence=1)
    Event.objects.filter(pk=first.pk).update(created_at=timezone.now() - timedelta(days=31))
    settings.EVENT_RETENTION_DAYS = 30
    assert events_purge() == 1

    assert client_for(user).get("/api/v1/events", {"after": first.id}).status_code == 410


@pytest.mark.parametrize("limit", ["0", "-1", "100000", "ten"])
def test_limit_out_of_range_is_a_400_problem_naming_limit(user, limit):
    response = client_for(user).get("/api/v1/events", {"limit": limit})

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert list(response.json()["errors"]) == ["limit"]


def test_unknown_type_filter_is_a_400_problem_that_lists_the_known_ones(user):
    response = client_for(user).get("/api/v1/events", {"type": "report.finished"})

    assert response.status_code == 400
    [message] = response.json()["errors"]["type"]
    assert message.startswith("Unknown event type: report.finished. Known: ")
    assert "report.succeeded" in message


def test_one_event_is_readable_by_its_user_only(user, bob):
    report_create(user=user, report_type="user_access", parameters={})
    event = Event.objects.get(user=user)

    assert client_for(user).get(f"/api/v1/events/{event.id}").json() == event.envelope
    for reader, event_id in ((bob, event.id), (user, "evt_nosuchevent000000000000")):
        response = client_for(reader).get(f"/api/v1/events/{event_id}")
        assert response.status_code == 404
        assert response.json()["type"] == "urn:reportsite:problem:not-found"


def test_unauthenticated_reads_are_401_problems(client):
    for path in ("/api/v1/events", "/api/v1/events/evt_x"):
        response = client.get(path)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/problem+json"


# --- Fan-out and the sweep ----------------------------------------------------------------------------------------


class RecordingChannel(DeliveryChannel):
    """A test's own channel: one target per report event, answers scripted per attempt."""

    name = "recording"

    def __init__(self, answers: list[bool | Exception] | None = None):
        self.answers = list(answers or [True])
        self.sent: list[dict] = []

    def targets(self, event: Event) -> Iterable[Target]:
        return [Target("box-1")] if event.type.startswith("report.") else []

    def send(self, prepared: Delivery) -> Outcome:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        self.sent.append(prepared.event.envelope)
        if isinstance(answer, Exception):
            raise answer
        return Outcome(answer, error="" if answer else "said no", receipt=f"r-{len(self.sent)}")

    def retry_schedule(self) -> list[float]:
        return [0, 0, 0]


@pytest.fixture
def recording() -> Iterator[RecordingChannel]:
    channel = RecordingChannel()
    channels.register(channel)
    yield channel
    channels.unregister(channel.name)


def test_a_channel_of_ones_own_receives_deliveries_with_retries_through_the_engine(user, recording):
    # Given a channel that fails twice (once by raising), then accepts
    recording.answers = [False, ConnectionError("socket closed"), True]
    report = report_create(user=user, report_type="user_access", parameters={})
    queued = Event.objects.get(report=report)

    # When the engine runs
    outcomes = run_deliveries(max_seconds=10)

    # Then the channel got the event three times, same id, and the log says why each attempt went as it did
    assert [envelope["id"] for envelope in recording.sent] == [queued.id] * 3
    delivery = Delivery.objects.get(channel="recording")
    assert (delivery.event_id, delivery.target, delivery.status, delivery.attempt_count, delivery.receipt) == (
        queued.id,
        "box-1",
        DeliveryStatus.SUCCEEDED,
        3,
        "r-3",
    )
    attempts = list(delivery.attempts.order_by("number").values_list("number", "succeeded", "error"))
    assert attempts == [(1, False, "said no"), (2, False, "ConnectionError: socket closed"), (3, True, "")]
    assert (outcomes["failed"], outcomes["succeeded"]) == (2, 1)


def test_a_channel_that_keeps_failing_gives_up_with_its_reason_after_its_schedule(user, recording):
    recording.answers = [False]
    report_create(user=user, report_type="user_access", parameters={})

    run_deliveries(max_seconds=10)

    delivery = Delivery.objects.get(channel="recording")
    assert (delivery.status, delivery.attempt_count, delivery.last_error) == (DeliveryStatus.FAILED, 3, "said no")
    assert delivery.finished_at is not None


def test_fan_out_twice_creates_nothing_new(user, recording):
    report_create(user=user, report_type="user_access", parameters={})
    event = Event.objects.get()
    first = list(Delivery.objects.values_list("id", "channel", "target"))

    fan_out(event)
    fan_out(Event.objects.get())

    assert (
        list(Delivery.objects.values_list("id", "channel", "target")) == first == [(first[0][0], "recording", "box-1")]
    )


def test_the_sweep_fans_out_an_event_whose_process_died_before_it_could(user, recording, monkeypatch):
    # Given an event committed by a process that never fanned it out (here: its fan-out never runs)
    monkeypatch.setattr("events.fanout.fan_out_after_commit", lambda event: None)
    report = report_create(user=user, report_type="user_access", parameters={})
    monkeypatch.undo()
    event = Event.objects.get(report=report)
    assert (event.fanned_out_at, Delivery.objects.count()) == (None, 0)

    # When the sweep runs: not before the grace period, then after it
    assert events_sweep(older_than=timedelta(seconds=60)) == 0
    assert events_sweep(older_than=timedelta(0)) == 1

    # Then the event has its delivery, once, and is marked done; a second sweep finds nothing
    event.refresh_from_db()
    assert event.fanned_out_at is not None
    assert list(Delivery.objects.values_list("event_id", "channel")) == [(event.id, "recording")]
    assert events_sweep(older_than=timedelta(0)) == 0


def test_a_channel_that_raises_while_naming_targets_loses_nothing(user, recording, monkeypatch):
    # Given a channel whose target lookup fails once (its database was away)
    failures = {"left": 1}
    real_targets = RecordingChannel.targets

    def flaky(self, event):
        if failures["left"]:
            failures["left"] -= 1
            raise ConnectionError("lookup failed")
        return real_targets(self, event)

    monkeypatch.setattr(RecordingChannel, "targets", flaky)
    report = report_create(user=user, report_type="user_access", parameters={})

    # Then the event is not marked fanned out, so the sweep does it again, and the delivery is made
    event = Event.objects.get(report=report)
    assert event.fanned_out_at is None
    assert events_sweep(older_than=timedelta(0)) == 1
    run_deliveries(max_seconds=10)
    assert Delivery.objects.get(channel="recording").status == DeliveryStatus.SUCCEEDED


def test_the_sweep_does_not_publish_live_an_event_that_a_later_one_overtook(user, monkeypatch):
    # Given two events of one report, the first never fanned out, the second published
    published: list[str] = []
    monkeypatch.setattr("reports.events.WebSocketChannel.publish", lambda self, event: published.append(event.type))
    monkeypatch.setattr("events.fanout.fan_out_after_commit", lambda event: None)
    report = report_create(user=user, report_type="user_access", parameters={})
    monkeypatch.setattr("events.fanout.fan_out_after_commit", lambda event: fan_out(event))
    report_cancel(report=report)
    assert published == ["report.cancelled"]

    # When the sweep fans out the first
    assert events_sweep(older_than=timedelta(0)) == 1

    # Then a socket is not sent back to "queued" after it heard "cancelled"
    assert published == ["report.cancelled"]
    assert Event.objects.get(type="report.queued").fanned_out_at is not None


def test_an_email_backend_that_fails_once_loses_nothing(make_user, settings):
    # Given an email backend that fails the first send only
    settings.EMAIL_BACKEND = "tests.flaky_backends.FailingOnceEmailBackend"
    settings.NOTIFY_RETRY_SCHEDULE = [0, 0, 0]
    from tests.flaky_backends import FailingOnceEmailBackend

    FailingOnceEmailBackend.reset()
    ada = make_user("ada", email="ada@example.com")
    report = report_render(report_create(user=ada, report_type="user_access", parameters={}).id)

    # When the engine runs
    run_deliveries(max_seconds=10)

    # Then the email was retried and sent, with the event of the report's success
    delivery = Delivery.objects.get(channel="email")
    assert (delivery.status, delivery.attempt_count) == (DeliveryStatus.SUCCEEDED, 2)
    assert delivery.event.type == "report.succeeded"
    assert delivery.event.report_id == report.id
    assert [attempt.succeeded for attempt in delivery.attempts.order_by("number")] == [False, True]
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["ada@example.com"]


# --- The report's timeline ------------------------------------------------------------------------------------


def test_report_events_show_each_channels_deliveries(make_user, settings, recording):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    ada = make_user("ada", email="ada.lovelace@example.com")
    report = report_render(report_create(user=ada, report_type="user_access", parameters={}).id)
    run_deliveries(max_seconds=10)
    api = client_for(ada)

    body = api.get(f"/api/v1/reports/{report.id}/events").json()

    assert body["next"] is None
    assert [event["type"] for event in body["results"]] == [
        "report.queued",
        "report.running",
        "report.progress",
        "report.succeeded",
    ]
    succeeded = body["results"][-1]
    assert {key: value for key, value in succeeded.items() if key != "deliveries"} == Event.objects.get(
        type="report.succeeded"
    ).envelope
    deliveries = {entry["channel"]: entry for entry in succeeded["deliveries"]}
    assert deliveries["websocket"]["status"] == "delivered"
    assert deliveries["websocket"]["target"] == "live"
    email = deliveries["email"]
    assert (email["target"], email["status"], email["attempts"]) == ("a•••••••••••@example.com", "delivered", 1)
    assert email["last_attempt_at"] is not None
    assert (deliveries["recording"]["status"], deliveries["recording"]["attempts"]) == ("delivered", 1)
    # Only the terminal event went by email
    queued = body["results"][0]
    assert {entry["channel"] for entry in queued["deliveries"]} == {"websocket", "recording"}


def test_report_events_are_the_requesters_only_and_after_pages_them(user, bob):
    report = report_create(user=user, report_type="user_access", parameters={})
    report_cancel(report=report)
    first = Event.objects.get(type="report.queued")

    assert client_for(bob).get(f"/api/v1/reports/{report.id}/events").status_code == 404
    after = client_for(user).get(f"/api/v1/reports/{report.id}/events", {"after": first.id}).json()
    assert [event["type"] for event in after["results"]] == ["report.cancelled"]
    other = report_create(user=user, report_type="user_access", parameters={})
    foreign_cursor = Event.objects.get(report=other).id
    response = client_for(user).get(f"/api/v1/reports/{report.id}/events", {"after": foreign_cursor})
    assert response.status_code == 410


# --- Retention ------------------------------------------------------------------------------------------------


def test_retention_deletes_old_events_with_their_deliveries_and_attempts(user, settings, recording):
    settings.EVENT_RETENTION_DAYS = 30
    old = report_create(user=user, report_type="user_access", parameters={})
    run_deliveries(max_seconds=10)
    Event.objects.filter(report=old).update(created_at=timezone.now() - timedelta(days=30, minutes=1))
    recent = report_create(user=user, report_type="user_access", parameters={})

    assert events_purge() == 1

    assert list(Event.objects.values_list("report_id", flat=True)) == [recent.id]
    assert not Delivery.objects.filter(event__report=old).exists()
    assert DeliveryAttempt.objects.count() == 0
    # The stream goes on numbering after the deleted event: no number is ever given twice
    report_cancel(report=recent)
    assert Event.objects.get(type="report.cancelled").sequence == 3


def test_events_written_outside_reports_are_in_the_stream_too(user):
    with transaction.atomic():
        event = event_record(user_id=user.pk, event_type="ping", data={"endpoint": {"id": "we_x"}})

    assert json.loads(Event.objects.get().envelope_json) == event.envelope
    assert event.sequence == 1
    assert event.report_id is None
