"""The admin as the control room (SPEC §10): report actions through the services, with and without permission,
the export action on every ModelAdmin, report type configuration obeyed at once, and queue health."""

import io

import django_rq
import pytest
from django.contrib.auth.models import Group, Permission, User
from django.test import Client
from pypdf import PdfReader

from events.log import event_record
from events.models import Delivery, DeliveryAttempt, DeliveryStatus
from reports import services
from reports.models import Report, ReportStatus, ReportTypeConfig
from tests.conftest import client_for, wait_for_report

pytestmark = pytest.mark.django_db


def staff(username: str, *perms: str) -> tuple[User, Client]:
    user = User.objects.create_user(username, password="pw", is_staff=True, email=f"{username}@example.test")
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    return user, client


def act(client: Client, changelist: str, action: str, ids: list) -> object:
    return client.post(changelist, {"action": action, "_selected_action": ids, "index": 0}, follow=True)


def failed_report(user: User) -> Report:
    report = services.report_create(user=user, report_type="user_access", parameters={"staff_only": True})
    return services.report_fail(report.id, code="build_failed", message="The directory was unreachable.")


# --- Report actions -------------------------------------------------------------------------------------------------


def test_retry_requests_a_failed_report_again_for_its_requester(make_user):
    requester = make_user("ada")
    first = failed_report(requester)
    _, admin = staff("root", "reports.view_report", "reports.change_report")

    response = act(admin, "/admin/reports/report/", "retry_reports", [first.id])

    retried = Report.objects.exclude(pk=first.pk).get()
    assert retried.requested_by == requester
    assert retried.parameters == first.parameters
    assert retried.status == ReportStatus.QUEUED
    assert Report.objects.get(pk=first.pk).status == ReportStatus.FAILED  # the first keeps its outcome
    assert f"{first.id} → {retried.id}" in response.content.decode()


def test_retry_of_a_succeeded_report_is_refused_with_the_reason(make_user):
    report = services.report_create(user=make_user("ada"), report_type="user_access", parameters={})
    Report.objects.filter(pk=report.pk).update(status=ReportStatus.SUCCEEDED)
    _, admin = staff("root", "reports.view_report", "reports.change_report")

    response = act(admin, "/admin/reports/report/", "retry_reports", [report.id])

    assert Report.objects.count() == 1
    assert "Only failed or cancelled reports are retried" in response.content.decode()


def test_cancel_goes_through_the_service(make_user):
    report = services.report_create(user=make_user("ada"), report_type="user_access", parameters={})
    _, admin = staff("root", "reports.view_report", "reports.change_report")

    act(admin, "/admin/reports/report/", "cancel_reports", [report.id])

    report.refresh_from_db()
    assert report.status == ReportStatus.CANCELLED
    assert report.finished_at is not None


@pytest.mark.parametrize("action", ["retry_reports", "cancel_reports", "resend_notifications"])
def test_report_actions_are_refused_to_staff_without_the_permission(make_user, action):
    report = failed_report(make_user("ada"))
    _, viewer = staff("viewer", "reports.view_report")

    page = viewer.get("/admin/reports/report/").content.decode()
    act(viewer, "/admin/reports/report/", action, [report.id])

    assert f'value="{action}"' not in page
    assert Report.objects.count() == 1
    assert Report.objects.get().status == ReportStatus.FAILED


def test_resend_notifications_queues_every_message_of_the_report_again(make_user, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # the failure's event is fanned out after commit
        report = failed_report(make_user("ada", email="ada@example.test"))
    message = Delivery.objects.get(event__report=report, channel="email")
    Delivery.objects.filter(pk=message.pk).update(
        status=DeliveryStatus.FAILED, attempt_count=5, schedule_start=0, next_attempt_at=None
    )
    _, admin = staff("root", "reports.view_report", "events.redeliver_delivery")

    response = act(admin, "/admin/reports/report/", "resend_notifications", [report.id])

    message.refresh_from_db()
    assert message.status == DeliveryStatus.PENDING
    assert message.schedule_position == 0  # a fresh set of retries
    assert message.attempt_count == 5  # the attempts so far keep their numbers
    assert "Queued 1 message(s) to be sent again." in response.content.decode()


def test_report_list_shows_status_badges_and_filters(make_user):
    failed_report(make_user("ada"))
    _, admin = staff("root", "reports.view_report")

    page = admin.get("/admin/reports/report/?status__exact=failed").content.decode()

    assert '<span class="badge badge-failed">Failed</span>' in page
    assert "By status" in page and "By report type" in page


# --- Export as PDF (model_table) ------------------------------------------------------------------------------------


def pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(content)).pages)


@pytest.mark.django_db(transaction=True)
def test_export_selected_users_end_to_end_over_1000_rows(rq_worker):
    User.objects.bulk_create(
        [
            User(username=f"user{number:04d}", email=f"u{number}@example.test", password="md5$x$secret")
            for number in range(1000)
        ]
    )
    exporter, admin = staff("auditor", "auth.view_user")
    first = User.objects.get(username="user0000")

    # "Select all 1000" on the change list searched for "user" (the admin's own select-across)
    response = admin.post(
        "/admin/auth/user/?q=user",
        {"action": "export_selected_as_pdf", "select_across": "1", "_selected_action": [first.pk], "index": 0},
        follow=True,
    )

    report = Report.objects.get(requested_by=exporter)
    assert response.redirect_chain[-1][0] == f"/admin/reports/report/{report.id}/live/"
    page = response.content.decode()
    assert f'data-live-socket="/ws/reports/{report.id}/"' in page
    assert "Export of 1000 rows of <code>auth.user</code>" in page
    body = wait_for_report(client_for(exporter), f"/api/v1/reports/{report.id}", timeout=120)
    assert body["status"] == "succeeded", body
    assert body["file"]["pages"] > 10
    text = pdf_text(b"".join(admin.get(f"/admin/reports/report/{report.id}/file/").streaming_content))  # their own
    assert "1000 rows" in text
    assert "user0000" in text and "user0999" in text
    assert "Email address" in text and "Staff status" in text  # the admin's list columns
    assert "md5$" not in text and "Password" not in text


def test_export_is_refused_to_staff_without_the_view_permission():
    _, stranger = staff("stranger")
    target = User.objects.create_user("target")

    response = act(stranger, "/admin/auth/user/", "export_selected_as_pdf", [target.pk])

    assert response.status_code == 403  # no view permission: not even the change list
    assert not Report.objects.exists()


def test_export_is_offered_on_every_model_admin(make_user):
    Group.objects.create(name="auditors")  # a change list shows its actions only when it has rows
    services.report_create(user=make_user("ada"), report_type="user_access", parameters={})
    _, admin = staff("root", "auth.view_user", "auth.view_group", "reports.view_report", "authtoken.view_tokenproxy")
    for changelist in ["/admin/auth/user/", "/admin/auth/group/", "/admin/reports/report/"]:
        assert 'value="export_selected_as_pdf"' in admin.get(changelist).content.decode(), changelist


def test_model_table_over_the_api_refuses_sensitive_fields_unknown_models_and_unviewable_models(make_user):
    api = client_for(make_user("ada", perms=("auth.view_user",)))

    def post(parameters: dict):
        return api.post("/api/v1/reports", {"report_type": "model_table", "parameters": parameters}, format="json")

    sensitive = post({"model": "auth.user", "fields": ["username", "password"]})
    assert sensitive.status_code == 400
    assert "'password' is not a column you can export" in sensitive.json()["errors"]["parameters.fields"][0]
    hidden_filter = post({"model": "auth.user", "filters": {"password": "x"}})
    assert hidden_filter.status_code == 400
    assert post({"model": "nosuch.model"}).status_code == 400
    tokens = post({"model": "reports.apitoken"})
    assert tokens.status_code == 403
    assert tokens.json()["detail"] == "You may not view API tokens."
    assert post({"model": "auth.user", "fields": ["username", "email"]}).status_code == 201
    assert Report.objects.count() == 1


def test_the_admin_download_needs_the_view_permission(make_user):
    owner = make_user("ada")
    report = services.report_create(user=owner, report_type="user_access", parameters={})
    Report.objects.filter(pk=report.pk).update(status=ReportStatus.SUCCEEDED)
    _, stranger = staff("stranger")

    assert stranger.get(f"/admin/reports/report/{report.id}/file/").status_code == 404


def test_the_live_page_shows_only_the_viewers_own_report(make_user):
    report = services.report_create(user=make_user("ada"), report_type="user_access", parameters={})
    _, admin = staff("root", "reports.view_report")

    assert admin.get(f"/admin/reports/report/{report.id}/live/").status_code == 404


# --- Report type configuration -------------------------------------------------------------------------------------


def test_disabling_a_type_in_the_admin_applies_to_the_api_at_once(make_user):
    api = client_for(make_user("ada"))
    _, admin = staff(
        "root", "reports.add_reporttypeconfig", "reports.change_reporttypeconfig", "reports.view_reporttypeconfig"
    )

    response = admin.post(
        "/admin/reports/reporttypeconfig/add/",
        {
            "key": "user_access",
            "enabled": "",
            "timeout_seconds": "60",
            "retention_days": "",
            "default_parameters": "{}",
        },
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    assert ReportTypeConfig.objects.get(key="user_access").timeout_seconds == 60
    refused = api.post("/api/v1/reports", {"report_type": "user_access"}, format="json")
    assert refused.status_code == 400
    assert "disabled" in refused.json()["detail"]
    assert "user_access" not in [item["key"] for item in api.get("/api/v1/report-types").json()]


def test_default_parameters_that_break_the_schema_are_refused_in_the_form():
    _, admin = staff("root", "reports.add_reporttypeconfig", "reports.view_reporttypeconfig")

    response = admin.post(
        "/admin/reports/reporttypeconfig/add/",
        {"key": "user_access", "enabled": "on", "default_parameters": '{"staff_only": "yes"}'},
    )

    assert response.status_code == 200
    assert "staff_only: Must be of type boolean." in response.content.decode()
    assert not ReportTypeConfig.objects.exists()


# --- Queue health --------------------------------------------------------------------------------------------------


def test_the_admin_index_shows_queue_counts_a_chart_and_the_rq_dashboard(make_user, django_capture_on_commit_callbacks):
    django_rq.get_connection("reports").flushdb()
    with django_capture_on_commit_callbacks(execute=True):  # enqueued after commit; no worker takes it
        services.report_create(user=make_user("ada"), report_type="user_access", parameters={})
    _, admin = staff("root", "reports.view_report")
    User.objects.filter(username="root").update(is_superuser=True)  # the RQ dashboard is for superusers only

    page = admin.get("/admin/").content.decode()

    assert 'href="/django-rq/"' in page
    assert '<tr data-queue="reports"><th scope="row">reports</th><td class="num" data-count="queued">1</td>' in page
    assert "<svg" in page and "1 queued</title>" in page


def test_queue_health_says_so_when_redis_does_not_answer(monkeypatch):
    from redis.exceptions import ConnectionError as RedisConnectionError

    def unreachable(name):
        raise RedisConnectionError("Connection refused")

    monkeypatch.setattr(django_rq, "get_queue", unreachable)
    _, admin = staff("root", "reports.view_report")

    page = admin.get("/admin/")

    assert page.status_code == 200
    assert "Redis did not answer: Connection refused" in page.content.decode()


def test_queue_health_is_hidden_from_staff_who_may_not_view_reports():
    _, admin = staff("someone", "auth.view_user")

    assert 'id="queue-health"' not in admin.get("/admin/").content.decode()


# --- Every model, and the logs -------------------------------------------------------------------------------------


def test_every_model_of_the_project_is_in_the_admin_with_filters_and_search():
    from django.apps import apps
    from django.contrib import admin

    # The delivery logs of every channel are the event log's (events).
    models = [
        *apps.get_app_config("reports").get_models(),
        *apps.get_app_config("notifications").get_models(),
        *apps.get_app_config("events").get_models(),
    ]
    for model in models:
        model_admin = admin.site._registry.get(model)
        assert model_admin is not None, f"{model.__name__} is not in the admin"
        assert model_admin.search_fields, f"{model.__name__} has no search"
        unfiltered = {"callbacksecret", "eventstream"}
        assert model_admin.list_filter or model._meta.model_name in unfiltered, f"{model.__name__}: no filters"


def test_every_admin_page_of_the_site_renders_for_a_superuser(make_user):
    from django.contrib import admin

    root = make_user("root", perms=(), is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(root)
    for model in admin.site._registry:
        url = f"/admin/{model._meta.app_label}/{model._meta.model_name}/"
        assert client.get(url).status_code == 200, url
        assert client.get(url + "?q=x").status_code == 200, url


def test_webhook_attempts_are_a_read_only_log_filtered_by_outcome(user):
    from django.utils import timezone

    # This test's transaction never commits: the event is not fanned out, the delivery is made here
    event = event_record(user_id=user.pk, event_type="report.succeeded", data={"report": {"id": "rep_test"}})
    delivery = Delivery.objects.create(event=event, channel="callback", target="https://hooks.example.test/in")
    DeliveryAttempt.objects.create(delivery=delivery, number=1, attempted_at=timezone.now(), status_code=500)
    DeliveryAttempt.objects.create(delivery=delivery, number=2, attempted_at=timezone.now(), error="timed out")
    _, viewer = staff("viewer", "events.view_deliveryattempt")

    everything = viewer.get("/admin/events/deliveryattempt/").content.decode()
    no_answer = viewer.get("/admin/events/deliveryattempt/?outcome=no_answer").content.decode()

    assert "timed out" in everything and '<td class="field-status_code">500</td>' in everything
    assert "timed out" in no_answer and '<td class="field-status_code">500</td>' not in no_answer
    assert viewer.get("/admin/events/deliveryattempt/add/").status_code == 403
