"""Scheduled reports (SPEC §18): when they run (cron in their own timezone, across daylight saving), the tick that
makes each due time's run once however many schedulers tick, the run's report, its emails, the failure streak that
disables a schedule, unsubscribing, and the API. The tick's clock is passed in: no test waits for a minute."""

import json
import threading
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core import mail
from django.test import Client

from events.models import Delivery, Event
from reports.services import report_render
from schedules import jobs, services
from schedules.models import Schedule, ScheduleRun
from schedules.timing import next_runs
from tests.conftest import client_for
from tests.notify_helpers import run_message_deliveries

BERLIN = ZoneInfo("Europe/Berlin")
WEEKLY = {"name": "Access review", "report_type": "user_access", "cron": "0 7 * * 1", "timezone": "Europe/Berlin"}


def at(text: str, zone: ZoneInfo = BERLIN) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone)


@pytest.fixture
def started(monkeypatch) -> list[tuple[str, datetime]]:
    """The run starts the tick enqueues, (run id, when), instead of RQ's scheduled jobs."""
    calls: list[tuple[str, datetime]] = []
    monkeypatch.setattr(jobs, "enqueue_run_start", lambda run_id, *, at: calls.append((run_id, at)))
    return calls


@pytest.fixture
def tick(django_capture_on_commit_callbacks):
    """schedules_tick at a given time, its after-commit work (the enqueued starts) done as a commit would."""

    def tick_at(now: datetime) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return services.schedules_tick(now=now)

    return tick_at


@pytest.fixture
def mailer(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.SITE_URL = "http://testserver"
    settings.NOTIFY_RETRY_SCHEDULE = [0]


@pytest.fixture
def ada(make_user):
    return make_user("ada", email="ada@example.com", first_name="Ada")


# --- When ----------------------------------------------------------------------------------------------------------


def test_weekly_monday_seven_in_berlin_stays_at_seven_across_both_dst_changes():
    spring = next_runs("0 7 * * 1", BERLIN, at("2026-03-20T12:00"), 3)
    autumn = next_runs("0 7 * * 1", BERLIN, at("2026-10-20T12:00"), 3)

    assert [run.astimezone(BERLIN).strftime("%a %d %H:%M") for run in spring] == [
        "Mon 23 07:00",
        "Mon 30 07:00",
        "Mon 06 07:00",
    ]
    assert [run.astimezone(UTC).hour for run in spring] == [6, 5, 5]  # CET, then CEST from 29 March
    assert [run.astimezone(BERLIN).strftime("%a %d %H:%M") for run in autumn] == [
        "Mon 26 07:00",
        "Mon 02 07:00",
        "Mon 09 07:00",
    ]
    assert [run.astimezone(UTC).hour for run in autumn] == [6, 6, 6]  # CET from 25 October


def test_a_time_the_clock_skips_runs_once_at_the_next_valid_time_and_a_repeated_time_once():
    spring = next_runs("30 2 * * *", BERLIN, at("2026-03-28T12:00"), 2)
    autumn = next_runs("30 2 * * *", BERLIN, at("2026-10-24T12:00"), 2)

    assert [run.astimezone(BERLIN).isoformat() for run in spring] == [
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that night: once, at 03:00
        "2026-03-30T02:30:00+02:00",
    ]
    assert [run.astimezone(BERLIN).isoformat() for run in autumn] == [
        "2026-10-25T02:30:00+02:00",  # 02:30 happens twice that night: once, the first time
        "2026-10-26T02:30:00+01:00",
    ]


# --- The tick ------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_due_schedule_gets_one_run_started_at_its_time_plus_its_jitter(ada, started, tick):
    schedule = services.schedule_save(owner=ada, data=WEEKLY, now=at("2026-03-20T12:00"))
    assert schedule.next_run_at == at("2026-03-23T07:00")

    assert tick(at("2026-03-23T06:59")) == 0
    made = tick(at("2026-03-23T07:00:20"))
    again = tick(at("2026-03-23T07:00:40"))

    [run] = ScheduleRun.objects.all()
    schedule.refresh_from_db()
    assert (made, again) == (1, 0)
    assert run.due_at == at("2026-03-23T07:00")
    assert started == [(run.id, run.due_at + timedelta(seconds=services.jitter_seconds(schedule.id)))]
    assert schedule.next_run_at == at("2026-03-30T07:00")


@pytest.mark.django_db
@pytest.mark.parametrize("first_monday", ["2026-03-23", "2026-10-19"], ids=["spring", "autumn"])
def test_ticking_weekly_across_a_dst_change_runs_every_monday_at_seven_berlin_time(ada, started, tick, first_monday):
    start = at(f"{first_monday}T07:00")
    schedule = services.schedule_save(owner=ada, data=WEEKLY, now=start - timedelta(days=1))
    # A scheduler ticking every minute, from Sunday to three weeks on, sped up: only the minutes around 07:00 and
    # each day's noon are ticked, which is where anything could happen
    minutes = []
    for day in range(-1, 21):
        noon = start.replace(hour=12) + timedelta(days=day)
        minutes += [start + timedelta(days=day, minutes=offset) for offset in (-61, -60, -1, 0, 1, 59, 60, 61)]
        minutes.append(noon)
    made = sum(tick(minute) for minute in sorted(minutes))

    runs = list(schedule.runs.order_by("due_at"))
    assert made == len(runs) == 3
    assert [run.due_at.astimezone(BERLIN).strftime("%a %d %b %H:%M %Z") for run in runs] == [
        (start + timedelta(weeks=week)).astimezone(BERLIN).strftime("%a %d %b 07:00 %Z") for week in range(3)
    ]
    assert len({run.due_at.astimezone(UTC).hour for run in runs}) == 2  # the change of offset fell between them


@pytest.mark.django_db
def test_times_missed_while_nothing_ticked_make_one_run(ada, started):
    schedule = services.schedule_save(owner=ada, data={**WEEKLY, "cron": "0 7 * * *"}, now=at("2026-03-01T12:00"))

    made = services.schedules_tick(now=at("2026-03-05T09:00"))  # due on the 2nd, 3rd, 4th and 5th

    schedule.refresh_from_db()
    assert made == 1 and ScheduleRun.objects.count() == 1
    assert schedule.next_run_at == at("2026-03-06T07:00")


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_ticking_at_once_make_one_run(ada, started):
    services.schedule_save(owner=ada, data=WEEKLY, now=at("2026-03-20T12:00"))
    counts: list[int] = []
    barrier = threading.Barrier(2)

    def scheduler() -> None:
        barrier.wait()
        counts.append(services.schedules_tick(now=at("2026-03-23T07:01")))

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sorted(counts) == [0, 1]
    assert ScheduleRun.objects.count() == 1


@pytest.mark.django_db
def test_a_run_started_late_by_a_lost_enqueue_is_started_by_the_tick(ada, started, django_capture_on_commit_callbacks):
    services.schedule_save(owner=ada, data=WEEKLY, now=at("2026-03-20T12:00"))
    services.schedules_tick(now=at("2026-03-23T07:00"))  # its start was enqueued, and lost

    services.schedules_tick(now=at("2026-03-23T07:10"))

    [run] = ScheduleRun.objects.all()
    assert run.started_at is not None and run.report is not None


# --- The run -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_run_is_a_report_of_the_owner_naming_its_schedule_with_its_period_resolved(make_user, started, tick):
    owner = make_user("ops", perms=("reports.view_report",), email="ops@example.com")
    schedule = services.schedule_save(
        owner=owner,
        data={**WEEKLY, "report_type": "report_activity", "parameters": {"period": "previous_week"}},
        now=at("2026-03-20T12:00"),
    )
    tick(at("2026-03-23T07:00"))
    [(run_id, _)] = started

    run = services.schedule_run_start(run_id)

    report = run.report
    assert (report.requested_by, report.schedule_id, report.report_type) == (owner, schedule.id, "report_activity")
    # Monday 23 March in Berlin: the previous week is Monday 16 to Sunday 22
    assert (report.parameters["start_date"], report.parameters["end_date"]) == ("2026-03-16", "2026-03-22")
    representation = client_for(owner).get(f"/api/v1/reports/{report.id}").json()
    assert representation["schedule"] == schedule.id
    assert services.schedule_run_start(run_id).report_id == report.id  # once


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_queues")
def test_recipients_get_the_pdf_and_can_unsubscribe(ada, mailer, settings):
    settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
    schedule = services.schedule_save(owner=ada, data={**WEEKLY, "recipients": ["boss@example.com", "ada@example.com"]})

    run = services.schedule_run_now(schedule=schedule)
    report_render(run.report_id)
    run_message_deliveries()
    for delivery in Delivery.objects.filter(channel="schedule_email"):
        assert delivery.status == "succeeded", delivery.last_error if hasattr(delivery, "last_error") else delivery

    scheduled = [email for email in mail.outbox if "scheduled report" in email.subject]
    assert sorted(email.to[0] for email in scheduled) == ["ada@example.com", "boss@example.com"]
    boss = next(email for email in scheduled if email.to == ["boss@example.com"])
    [(_, content, kind)] = boss.attachments
    assert kind == "application/pdf" and content.startswith(b"%PDF")
    link = boss.extra_headers["List-Unsubscribe"].strip("<>")
    assert boss.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

    asked = Client().get(link)
    assert asked.status_code == 200 and b"Stop receiving" in asked.content
    schedule.refresh_from_db()
    assert "boss@example.com" in schedule.recipients  # a GET (a link scanner) changes nothing
    done = Client().post(link)
    schedule.refresh_from_db()
    assert done.status_code == 200 and schedule.recipients == ["ada@example.com"]
    assert Client().get(link.replace("/unsubscribe/", "/unsubscribe/x")).status_code == 400


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_queues")
def test_a_large_pdf_is_linked_instead_of_attached(ada, mailer, settings):
    settings.NOTIFY_EMAIL_ATTACHMENT_MAX_BYTES = 10
    schedule = services.schedule_save(owner=ada, data={**WEEKLY, "recipients": ["boss@example.com"]})

    run = services.schedule_run_now(schedule=schedule)
    report_render(run.report_id)
    run_message_deliveries()

    [email] = [email for email in mail.outbox if email.to == ["boss@example.com"]]
    assert email.attachments == []
    link = next(word for word in email.body.split() if "/download?token=" in word)
    assert Client().get(link).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_queues")
def test_failed_runs_in_a_row_disable_the_schedule_and_tell_the_owner(make_user, mailer, settings):
    settings.SCHEDULE_MAX_FAILURES = 3
    owner = make_user("ops", perms=("reports.add_report",), email="ops@example.com")
    schedule = services.schedule_save(owner=owner, data={**WEEKLY, "report_type": "test_exploding"})

    for _ in range(3):
        schedule.refresh_from_db()
        assert schedule.enabled
        run = services.schedule_run_now(schedule=schedule)
        report_render(run.report_id)  # the type always fails
    run_message_deliveries()

    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.next_run_at, schedule.consecutive_failures) == (False, None, 3)
    assert Event.objects.filter(user=owner, type="schedule.disabled").count() == 1
    subjects = sorted(email.subject for email in mail.outbox if email.to == ["ops@example.com"])
    assert subjects.count("Scheduled report failed: Access review") == 3
    assert "Schedule disabled: Access review" in subjects
    disabled = next(email for email in mail.outbox if email.subject.startswith("Schedule disabled"))
    assert "failed 3 runs in a row" in disabled.body


@pytest.mark.django_db
def test_a_success_ends_the_failure_streak(ada, settings):
    settings.SCHEDULE_MAX_FAILURES = 2
    schedule = services.schedule_save(owner=ada, data=WEEKLY)
    ScheduleRun.objects.create(schedule=schedule, due_at=at("2026-03-02T07:00"), error="The type was disabled.")
    good = services.schedule_run_now(schedule=schedule)
    report_render(good.report_id)

    services.schedule_run_ended(schedule.id)

    schedule.refresh_from_db()
    assert (schedule.enabled, schedule.consecutive_failures) == (True, 0)


# --- The API -------------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_creates_reads_runs_and_lists_runs(ada, make_user):
    api = client_for(ada)
    created = api.post("/api/v1/schedules", {**WEEKLY, "recipients": ["ada@example.com"]}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert created["Location"] == body["url"]
    assert (body["cron"], body["timezone"], body["enabled"], body["last_run"]) == (
        "0 7 * * 1",
        "Europe/Berlin",
        True,
        None,
    )
    assert datetime.fromisoformat(body["next_run_at"]).astimezone(BERLIN).strftime("%a %H:%M") == "Mon 07:00"

    ran = api.post(f"/api/v1/schedules/{body['id']}/run")
    runs = api.get(f"/api/v1/schedules/{body['id']}/runs")
    paused = api.patch(f"/api/v1/schedules/{body['id']}", {"enabled": False}, format="json")
    listed = api.get("/api/v1/schedules")

    assert ran.status_code == 202 and ran.json()["report"]["schedule"] == body["id"]
    assert ran.json()["status"] == "queued" and ran.json()["trigger"] == "manual"
    assert [run["id"] for run in runs.json()["results"]] == [ran.json()["id"]]
    assert paused.json()["enabled"] is False and paused.json()["next_run_at"] is None
    assert listed.json()[0]["last_run"]["id"] == ran.json()["id"]
    # Another user's schedule is not theirs to see
    assert client_for(make_user("bob")).get(f"/api/v1/schedules/{body['id']}").status_code == 404
    assert api.delete(f"/api/v1/schedules/{body['id']}").status_code == 204


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"cron": "0 7 * *"}, "cron"),
        ({"cron": "61 7 * * 1"}, "cron"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"recipients": ["boss@elsewhere.example"]}, "recipients"),
        ({"recipients": ["not an address"]}, "recipients"),
        ({"parameters": {"period": "previous_week"}}, "parameters.period"),  # user_access has no date range
        ({"report_type": "report_activity", "parameters": {"period": "next_week"}}, "parameters.period"),
        ({"parameters": {"surprise": 1}}, "parameters.surprise"),
    ],
)
def test_invalid_input_is_a_400_naming_the_field(make_user, change, field):
    api = client_for(make_user("ops", perms=("auth.view_user", "reports.view_report"), email="ops@example.com"))

    response = api.post("/api/v1/schedules", {**WEEKLY, **change}, format="json")

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert field in response.json()["errors"]
    assert Schedule.objects.count() == 0


@pytest.mark.django_db
def test_the_next_runs_of_a_cron_for_a_form(api):
    response = api.get("/api/v1/schedules/next-runs", {"cron": "0 7 * * 1", "timezone": "Europe/Berlin"})
    wrong = api.get("/api/v1/schedules/next-runs", {"cron": "nope", "timezone": "Europe/Berlin"})

    assert len(response.json()["next_runs"]) == 5
    assert all(
        json.dumps(time).endswith(':00:00+01:00"') or json.dumps(time).endswith(':00:00+02:00"')
        for time in response.json()["next_runs"]
    )
    assert wrong.status_code == 400 and "cron" in wrong.json()["errors"]
    assert wrong.json()["title"] == "Invalid schedule"


# --- The admin -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_creates_checks_and_runs_schedules(ada, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    browser = Client()
    browser.force_login(admin)
    form = {
        "owner": ada.pk,
        "name": "From the admin",
        "report_type": "user_access",
        "parameters": "{}",
        "cron": "0 7 * * 1",
        "timezone": "Europe/Berlin",
        "recipients": '["ada@example.com"]',
        "enabled": "on",
        "runs-TOTAL_FORMS": "0",
        "runs-INITIAL_FORMS": "0",
    }

    assert browser.get("/admin/schedules/schedule/add/").status_code == 200
    refused = browser.post("/admin/schedules/schedule/add/", {**form, "cron": "every monday"})
    created = browser.post("/admin/schedules/schedule/add/", form)

    assert refused.status_code == 200 and "Five fields" in refused.content.decode()
    assert created.status_code == 302, created.content.decode()[:2000]
    schedule = Schedule.objects.get(name="From the admin")
    assert schedule.owner == ada and schedule.next_run_at is not None
    ran = browser.post(
        "/admin/schedules/schedule/", {"action": "run_now", "_selected_action": [schedule.pk]}, follow=True
    )
    assert ran.status_code == 200 and "1 of 1 runs requested their report" in ran.content.decode()
    assert schedule.runs.get().report.schedule_id == schedule.id
