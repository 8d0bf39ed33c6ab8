"""Abuse limits (SPEC §19) and the holes an attack on the running service found: amplification through endpoints
and large parameters, gates that the UI and the admin export skipped, an admin download that skipped the model's
permission, and `model_table` input checked too late or cleaned too much."""

import json

import django_rq
import pytest
from django.contrib.auth.models import Permission, User
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.test import Client

from events.engine import run_deliveries
from events.models import Delivery
from notifications.models import WebhookEndpoint
from notifications.webhooks import services as webhooks
from reports import model_export
from reports.models import Report
from reports.services import report_create, report_render
from tests.conftest import client_for, staff_browser_for
from tests.webhook_receivers import receiver

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("local_webhooks")]

PROBLEM = "application/problem+json"


# --- 1. Amplification ---------------------------------------------------------------------------------------------


def test_one_endpoint_more_than_the_cap_is_a_400_problem(api, user, settings):
    settings.WEBHOOK_MAX_ENDPOINTS_PER_USER = 2
    for index in range(2):
        created = api.post("/api/v1/webhook-endpoints", {"url": f"http://127.0.0.1:9/a{index}"}, format="json")
        assert created.status_code == 201, created.content

    refused = api.post("/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/a3"}, format="json")

    assert refused.status_code == 400
    assert refused["Content-Type"] == PROBLEM
    assert "2" in refused.json()["detail"]
    assert WebhookEndpoint.objects.filter(owner=user).count() == 2


def test_the_endpoint_cap_defaults_to_twenty(settings):
    assert settings.WEBHOOK_MAX_ENDPOINTS_PER_USER == 20


def test_parameters_over_their_size_cap_are_a_400_naming_parameters(api, settings):
    settings.REPORT_MAX_PARAMETERS_BYTES = 1024
    body = {"report_type": "model_table", "parameters": {"model": "auth.user", "ids": list(range(1, 500))}}

    refused = api.post("/api/v1/reports", body, format="json")

    assert refused.status_code == 400
    assert refused["Content-Type"] == PROBLEM
    assert "parameters" in refused.json()["errors"]
    assert "1024" in refused.json()["errors"]["parameters"][0]
    assert Report.objects.count() == 0


def test_the_parameters_cap_defaults_to_sixteen_kibibytes(settings):
    assert settings.REPORT_MAX_PARAMETERS_BYTES == 16 * 1024


@pytest.mark.django_db(transaction=True)
def test_endpoints_and_a_callback_with_one_url_get_one_delivery_per_event(user):
    with receiver() as hook, receiver() as other_hook:
        for _ in range(5):
            webhooks.endpoint_create(owner=user, url=hook.url)
        other = webhooks.endpoint_create(owner=user, url=other_hook.url)
        report = report_create(user=user, report_type="user_access", parameters={}, callback_url=hook.url)
        report_render(report.id)

        run_deliveries(max_seconds=10)

    # One POST to the shared URL (not five endpoints and a callback), one to the other URL
    for received in (hook.received, other_hook.received):
        assert [json.loads(request.body)["type"] for request in received] == ["report.succeeded"]
    made = Delivery.objects.filter(event__type="report.succeeded")
    assert made.count() == 2
    assert made.filter(target=other.pk).exists()


# --- 2. The UI and the admin export go through the gates; the UI is for staff -------------------------------------


def test_a_signed_in_user_who_is_not_staff_gets_403_from_the_ui(user):
    client = Client()
    client.force_login(user)

    for path in ("/", "/reports/new/", "/reports/new/user_access/"):
        response = client.get(path)
        assert response.status_code == 403, path
    assert client.post("/reports/new/user_access/", {}).status_code == 403
    assert Report.objects.count() == 0


def test_the_ui_is_rate_limited_like_the_api(user, settings):
    settings.REPORT_CREATE_RATE = "1/min"
    cache.clear()
    browser = staff_browser_for(user)
    assert browser.post("/reports/new/user_access/", {}).status_code == 302

    refused = browser.post("/reports/new/user_access/", {})

    assert refused.status_code == 429
    assert "Too many" in refused.content.decode()
    assert Report.objects.count() == 1
    # And the API shares the count: the user's next POST there is refused too
    assert client_for(user).post("/api/v1/reports", {"report_type": "user_access"}, format="json").status_code == 429


def test_the_ui_sheds_load_like_the_api(user, settings):
    settings.REPORT_QUEUE_MAX_BACKLOG = 1
    queue = django_rq.get_queue("reports")
    queue.empty()
    try:
        queue.connection.rpush(queue.key, "a", "b")
        refused = staff_browser_for(user).post("/reports/new/user_access/", {})
    finally:
        queue.empty()

    assert refused.status_code == 503
    assert refused["Retry-After"]
    assert Report.objects.count() == 0


def test_the_admin_export_is_rate_limited(make_user, settings):
    settings.REPORT_CREATE_RATE = "1/min"
    cache.clear()
    auditor = make_user("auditor", perms=("auth.view_user",))
    admin = staff_browser_for(auditor)
    export = {"action": "export_selected_as_pdf", "_selected_action": [auditor.pk]}
    assert admin.post("/admin/auth/user/", export).status_code == 302
    assert Report.objects.count() == 1

    refused = admin.post("/admin/auth/user/", export, follow=True)

    assert Report.objects.count() == 1
    assert "could not be requested: Too many reports" in refused.content.decode()


# --- 3. The admin download of a model_table report needs the model's view permission too -------------------------


def _finished_export(owner: User, model: str) -> Report:
    report = Report.objects.create(
        requested_by=owner, report_type="model_table", parameters={"model": model, "ids": []}, status="succeeded"
    )
    report.file.save(f"{report.id}.pdf", ContentFile(b"%PDF-1.4 endpoints"))
    return report


def test_a_staff_user_without_the_models_view_permission_cannot_download_its_export(make_user):
    root = make_user("root", perms=(), is_superuser=True, is_staff=True)
    export = _finished_export(root, "notifications.webhookendpoint")
    clerk = make_user("clerk", perms=("reports.view_report",))
    url = f"/admin/reports/report/{export.pk}/file/"

    refused = staff_browser_for(clerk).get(url)

    assert refused.status_code == 404
    # With the model's view permission the same staff user may
    clerk.user_permissions.add(Permission.objects.get(codename="view_webhookendpoint"))
    allowed = staff_browser_for(User.objects.get(pk=clerk.pk)).get(url)
    assert allowed.status_code == 200
    assert b"".join(allowed.streaming_content).startswith(b"%PDF")


# --- 11. model_table ids and filters are checked when requested ------------------------------------------------------


def test_model_table_ids_of_the_wrong_kind_are_a_400_naming_ids(api):
    body = {"report_type": "model_table", "parameters": {"model": "auth.user", "ids": [1, "not-a-number"]}}

    refused = api.post("/api/v1/reports", body, format="json")

    assert refused.status_code == 400, refused.content
    errors = refused.json()["errors"]
    assert list(errors) == ["parameters.ids"]
    assert "not-a-number" in errors["parameters.ids"][0]
    assert Report.objects.count() == 0


def test_model_table_filter_values_of_the_wrong_kind_are_a_400_naming_the_filter(api):
    body = {"report_type": "model_table", "parameters": {"model": "auth.user", "filters": {"is_staff": "perhaps"}}}

    refused = api.post("/api/v1/reports", body, format="json")

    assert refused.status_code == 400, refused.content
    errors = refused.json()["errors"]
    assert list(errors) == ["parameters.filters.is_staff"]
    assert Report.objects.count() == 0


def test_model_table_good_ids_and_filters_are_accepted(api):
    body = {
        "report_type": "model_table",
        "parameters": {"model": "auth.user", "ids": [1, "2"], "filters": {"is_staff": True}},
    }

    assert api.post("/api/v1/reports", body, format="json").status_code == 201


# --- 12. model_table keeps plain values whole ------------------------------------------------------------------------


def test_model_table_keeps_angle_brackets_of_plain_values(make_user):
    user = make_user("eve", first_name="Eve <eve@corp.example>")
    _, model_admin = model_export.resolve_model("auth.user")

    assert model_export.cell_text(user, "first_name", model_admin) == "Eve <eve@corp.example>"


def test_model_table_strips_the_html_of_admin_display_methods(make_user):
    report = Report.objects.create(requested_by=make_user("ada"), report_type="user_access", status="succeeded")
    _, model_admin = model_export.resolve_model("reports.report")

    badge = model_export.cell_text(report, "badge", model_admin)

    assert badge == "Succeeded"


# --- 7. The endpoint test is throttled per user and endpoint ---------------------------------------------------------


def test_endpoint_tests_over_the_rate_are_a_429_and_send_nothing(api, user, settings):
    settings.WEBHOOK_TEST_RATE = "2/min"
    cache.clear()
    with receiver() as hook, receiver() as other_hook:
        endpoint = webhooks.endpoint_create(owner=user, url=hook.url)
        other = webhooks.endpoint_create(owner=user, url=other_hook.url)
        tests = [api.post(f"/api/v1/webhook-endpoints/{endpoint.id}/test") for _ in range(3)]
        # Another endpoint of the same user has its own count
        other_test = api.post(f"/api/v1/webhook-endpoints/{other.id}/test")

    assert [response.status_code for response in tests] == [200, 200, 429]
    refused = tests[2]
    assert refused["Content-Type"] == PROBLEM
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert len(hook.received) == 2
    assert Delivery.objects.filter(event__type="ping", target=endpoint.id).count() == 2
    assert other_test.status_code == 200


def test_the_endpoint_test_rate_defaults_to_ten_a_minute(settings):
    assert settings.WEBHOOK_TEST_RATE == "10/min"


def test_the_admin_export_of_every_row_names_no_ids(make_user, settings):
    settings.REPORT_MAX_PARAMETERS_BYTES = 200
    auditor = make_user("auditor", perms=("auth.view_user",))
    User.objects.bulk_create([User(username=f"user{index:03}") for index in range(60)])
    admin = staff_browser_for(auditor)
    everyone = list(User.objects.values_list("pk", flat=True))

    # Every row selected: the whole table, asked for without its ids
    export = admin.post("/admin/auth/user/", {"action": "export_selected_as_pdf", "_selected_action": everyone})
    report = Report.objects.get()
    assert report.parameters["ids"] == []
    assert "Export of every row of" in admin.get(export["Location"]).content.decode()

    # Most but not all of them: too many ids for the parameters' cap, and the admin says so
    refused = admin.post(
        "/admin/auth/user/", {"action": "export_selected_as_pdf", "_selected_action": everyone[1:]}, follow=True
    )
    assert Report.objects.count() == 1
    assert "At most 200 bytes" in refused.content.decode()
