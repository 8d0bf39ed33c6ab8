"""Security on the surfaces the API tests do not cover: the admin for staff who are not superusers, the RQ dashboard,
tokens and secrets in lists and logs, files, CSRF on the web UI forms, and the production settings."""

import logging
import os
import re
import secrets
import subprocess
import sys

import pytest
from django.contrib.admin.utils import quote  # the admin escapes "_" in ids: rep_40... is not rep@...
from django.contrib.auth.models import Permission, User
from django.core.files.base import ContentFile
from django.test import Client
from rest_framework.authtoken.models import Token

from events.models import Delivery
from notifications.models import CallbackSecret, WebhookEndpoint
from reports.models import Report
from reports.services import report_create, report_fail
from tests.conftest import ROOT, client_for

pytestmark = pytest.mark.django_db


def staff(username: str, *perms: str, superuser: bool = False) -> Client:
    user = User.objects.create_user(username, password="pw", is_staff=True, is_superuser=superuser)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def secrets_in_play(make_user) -> dict[str, str]:
    """A user with a token, a webhook endpoint and a callback secret: the values that must never leak."""
    owner = make_user("owner")
    token = Token.objects.create(user=owner).key
    endpoint = WebhookEndpoint.objects.create(
        owner=owner, url="https://hooks.example.com/in", secret="whsec_" + "e" * 32
    )
    callback = CallbackSecret.objects.create(user=owner, secret="whsec_" + "c" * 32)
    return {"token": token, "endpoint_secret": endpoint.secret, "callback_secret": callback.secret}


# --- The admin for staff who are not superusers -------------------------------------------------------------------

ADMIN_PAGES = [
    "/admin/reports/report/",
    "/admin/reports/idempotencykey/",
    "/admin/notifications/webhookendpoint/",
    "/admin/events/delivery/",
    "/admin/notifications/callbacksecret/",
    "/admin/reports/apitoken/",
    "/admin/auth/user/",
]


@pytest.mark.parametrize("path", ADMIN_PAGES)
def test_staff_without_permissions_see_no_admin_page(path):
    admin = staff("intern")

    assert admin.get(path).status_code == 403
    assert "You don’t have permission to view or edit anything." in admin.get("/admin/").content.decode()


def test_staff_who_may_view_reports_see_them_and_nothing_else(user):
    # Given staff with only the permission to view reports
    report = report_create(user=user, report_type="user_access", parameters={})
    admin = staff("auditor", "reports.view_report")

    # Then they see reports, read-only, and no other model
    assert admin.get("/admin/reports/report/").status_code == 200
    change = admin.get(f"/admin/reports/report/{quote(report.id)}/change/")
    assert change.status_code == 200
    assert 'name="_save"' not in change.content.decode()
    assert admin.post(f"/admin/reports/report/{quote(report.id)}/delete/", {"post": "yes"}).status_code == 403
    assert Report.objects.filter(pk=report.id).exists()
    for path in ADMIN_PAGES[2:]:
        assert admin.get(path).status_code == 403, path


def test_the_rq_dashboard_is_for_superusers_only():
    # Staff, even with every reports permission, may not see or act on the queues (every user's jobs)
    staff_member = staff("operator", "reports.view_report", "reports.change_report")
    for path in ("/django-rq/", "/django-rq/queues/0/", "/django-rq/queues/0/empty/"):
        assert staff_member.get(path).status_code == 403, path
    assert staff("root", superuser=True).get("/django-rq/").status_code == 200
    signed_out = Client().get("/django-rq/")
    assert signed_out.status_code == 302
    assert signed_out["Location"].startswith("/admin/login/")


# --- Tokens and secrets never in lists or logs ----------------------------------------------------------------------


def test_admin_lists_and_forms_show_no_token_or_secret(secrets_in_play):
    root = staff("root", superuser=True)
    owner = User.objects.get(username="owner")
    endpoint = WebhookEndpoint.objects.get()
    pages = [
        "/admin/reports/apitoken/",
        f"/admin/reports/apitoken/{owner.pk}/change/",
        "/admin/notifications/webhookendpoint/",
        f"/admin/notifications/webhookendpoint/{quote(endpoint.pk)}/change/",
        "/admin/notifications/callbacksecret/",
    ]
    for path in pages:
        response = root.get(path)
        assert response.status_code == 200, path
        page = response.content.decode()
        for name, value in secrets_in_play.items():
            assert value not in page, f"{name} shown on {path}"
    # The token list says whose token it is, and only its first characters
    assert f"{secrets_in_play['token'][:4]}…" in root.get("/admin/reports/apitoken/").content.decode()


def test_a_token_made_in_the_admin_is_shown_once(make_user):
    root = staff("root", superuser=True)
    someone = make_user("someone")

    response = root.post("/admin/reports/apitoken/add/", {"user": someone.pk}, follow=True)

    key = Token.objects.get(user=someone).key
    assert f"The API token of someone: {key}" in response.content.decode()
    assert key not in root.get("/admin/reports/apitoken/").content.decode()


def test_api_lists_and_reads_show_no_secret(secrets_in_play):
    owner = client_for(User.objects.get(username="owner"))
    endpoint = WebhookEndpoint.objects.get()

    for path in ("/api/v1/webhook-endpoints", f"/api/v1/webhook-endpoints/{endpoint.id}", "/api/v1/me"):
        body = owner.get(path).content.decode()
        assert "whsec_" not in body, path
        assert secrets_in_play["token"] not in body, path


def test_secrets_are_never_logged(secrets_in_play, caplog, make_user):
    # Given every logger at DEBUG
    caplog.set_level(logging.DEBUG)
    owner_user = User.objects.get(username="owner")
    owner = client_for(owner_user)
    endpoint = WebhookEndpoint.objects.get()

    # When secrets are made, shown, rotated and used, and wrong ones are tried
    created = owner.post("/api/v1/webhook-endpoints", {"url": "http://127.0.0.1:9/hook"}, format="json").json()
    rotated = owner.post(f"/api/v1/webhook-endpoints/{endpoint.id}/rotate-secret").json()
    callback = owner.post("/api/v1/callback-secret/rotate").json()
    bad = Client().get("/api/v1/reports", HTTP_AUTHORIZATION="Token " + secrets_in_play["token"][::-1])
    assert bad.status_code == 401
    login = Client().post("/accounts/login/", {"username": "owner", "password": "wrong-Pa55word!"})
    assert login.status_code == 200

    # Then no log record holds any of them
    logged = "\n".join(f"{record.getMessage()} {record.args!r} {record.exc_text or ''}" for record in caplog.records)
    shown = [created.get("secret"), rotated.get("secret"), callback.get("secret")]
    assert all(value and value.startswith("whsec_") for value in shown), shown
    for value in [*secrets_in_play.values(), *shown, secrets_in_play["token"][::-1], "wrong-Pa55word!"]:
        assert value not in logged


# --- Files ----------------------------------------------------------------------------------------------------------


def test_report_files_are_served_only_through_the_owners_api(user, api, make_user, settings):
    # Given a succeeded report with its file in the media folder
    report = report_create(user=user, report_type="user_access", parameters={})
    report.file.save(f"{report.id}.pdf", ContentFile(b"%PDF-1.4 secret"), save=False)
    Report.objects.filter(pk=report.pk).update(status="succeeded", file=report.file.name, file_sha256="0" * 64)
    assert os.path.exists(os.path.join(settings.MEDIA_ROOT, report.file.name))

    # Then no URL serves the media folder itself, and another user's API answers 404
    bob = client_for(make_user("bob"))
    for path in (f"/media/{report.file.name}", f"/{settings.MEDIA_URL}{report.file.name}", "/media/"):
        assert Client().get(path).status_code == 404, path
        assert bob.get(path).status_code == 404, path
    assert client_for(make_user("eve")).get(f"/api/v1/reports/{report.id}/file").status_code == 404
    assert api.get(f"/api/v1/reports/{report.id}/file").status_code == 200


# --- CSRF on the web UI -------------------------------------------------------------------------------------------


def csrf_client(user) -> Client:
    """A browser of a staff user (the web UI is for staff) that sends CSRF tokens only when given them."""
    User.objects.filter(pk=user.pk).update(is_staff=True)
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def form_token(client: Client, path: str) -> str:
    page = client.get(path).content.decode()
    return re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)


def test_ui_forms_refuse_a_post_without_the_csrf_token(user):
    # Given Ada signed in, and a queued report of hers
    report = report_create(user=user, report_type="user_access", parameters={})
    client = csrf_client(user)

    # When a foreign page posts her forms without the token
    new = client.post("/reports/new/user_access/", {"include_inactive": "on"})
    cancel = client.post(f"/reports/{report.id}/cancel/")
    preferences = client.post("/preferences/", {"email_on_success": "on"})

    # Then each is refused and nothing changed
    assert (new.status_code, cancel.status_code, preferences.status_code) == (403, 403, 403)
    assert list(Report.objects.values_list("id", "status")) == [(report.id, "queued")]


def test_ui_forms_accept_a_post_with_the_csrf_token(user):
    report = report_create(user=user, report_type="user_access", parameters={})
    client = csrf_client(user)

    created = client.post(
        "/reports/new/user_access/", {"csrfmiddlewaretoken": form_token(client, "/reports/new/user_access/")}
    )
    cancelled = client.post(
        f"/reports/{report.id}/cancel/", {"csrfmiddlewaretoken": form_token(client, f"/reports/{report.id}/")}
    )

    assert (created.status_code, cancelled.status_code) == (302, 302)
    assert Report.objects.count() == 2
    report.refresh_from_db()
    assert report.status == "cancelled"


# --- Production settings ------------------------------------------------------------------------------------------


def test_production_settings_pass_the_deploy_checks():
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("DJANGO_") and key not in {"DATABASE_URL", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="reportsite.settings",
        DJANGO_DEBUG="0",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="reports.example.com",
    )

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr
    # The 3 silenced: Django's own look for its middleware by dotted path; reportsite/checks.py runs them for ours.
    assert "System check identified no issues (3 silenced)." in result.stdout


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = {key: value for key, value in os.environ.items() if not key.startswith("DJANGO_")}
    env.update(DJANGO_SETTINGS_MODULE="reportsite.settings", DJANGO_DEBUG="0")

    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )

    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off." in result.stderr


# --- Webhooks -------------------------------------------------------------------------------------------------------


def test_a_reports_events_go_to_its_owners_endpoints_only(make_user, clean_queues, django_capture_on_commit_callbacks):
    # Given Ada and Bob, each with an endpoint for every terminal event
    ada, bob = make_user("ada"), make_user("bob")
    adas = WebhookEndpoint.objects.create(owner=ada, url="http://127.0.0.1:9/ada", secret="whsec_a")
    WebhookEndpoint.objects.create(owner=bob, url="http://127.0.0.1:9/bob", secret="whsec_b")
    report = report_create(user=ada, report_type="user_access", parameters={})

    # When Ada's report ends
    with django_capture_on_commit_callbacks(execute=True):
        report_fail(report.id, code="build_failed", message="No ledger.")

    # Then only Ada's endpoint gets a delivery, of her report
    deliveries = list(Delivery.objects.values_list("event__user__username", "channel", "target", "event__type"))
    assert deliveries == [("ada", "webhook", adas.id, "report.failed")]
    assert Delivery.objects.get().event.envelope["data"]["report"]["id"] == report.id
