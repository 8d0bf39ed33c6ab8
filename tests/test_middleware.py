"""Django's middleware runs its I/O-free hooks on the event loop under ASGI (reportsite/middleware.py): an API
request makes no hop to a thread for them, while what must reach the database (a session that changed, messages to
store) still does, and every behaviour of the stack (security headers, CSRF cookie, slash redirect, sign-in,
messages) is the same as under WSGI."""

from unittest import mock

import django.utils.deprecation
import pytest
from asgiref.sync import async_to_sync
from django.test import AsyncClient, Client
from rest_framework.authtoken.models import Token

import reportsite.middleware
from reportsite.checks import check_middleware_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def hops() -> list[str]:
    """The middleware hooks sent to a thread, by name: ours, and those of Django's own MiddlewareMixin."""
    sent: list[str] = []
    real = reportsite.middleware.sync_to_async

    def counting(function, **kwargs):
        sent.append(function.__qualname__)
        return real(function, **kwargs)

    with (
        mock.patch.object(reportsite.middleware, "sync_to_async", counting),
        mock.patch.object(django.utils.deprecation, "sync_to_async", counting),
    ):
        yield sent


def test_an_api_request_under_asgi_runs_every_hook_on_the_event_loop_and_gets_the_headers(user, hops):
    token = Token.objects.create(user=user).key

    response = async_to_sync(AsyncClient().get)(
        "/api/v1/me", headers={"Authorization": f"Token {token}", "X-Forwarded-Proto": "https"}
    )

    assert response.status_code == 200 and response.json()["username"] == "ada"
    assert hops == []
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Content-Length"] == str(len(response.content))


def test_signing_in_under_asgi_saves_the_session_on_a_thread_and_sets_the_csrf_cookie(user, hops):
    user.is_staff = True
    user.save()

    async def scenario():
        client = AsyncClient(enforce_csrf_checks=True)
        form = await client.get("/accounts/login/")
        csrf = form.cookies["csrftoken"].value
        signed_in = await client.post(
            "/accounts/login/", {"username": "ada", "password": "pw-ada", "csrfmiddlewaretoken": csrf}
        )
        return form, signed_in, await client.get("/")

    form, signed_in, home = async_to_sync(scenario)()

    assert form.status_code == 200 and form.cookies["csrftoken"].value
    assert signed_in.status_code == 302 and signed_in.cookies["sessionid"].value
    assert "SessionMiddleware.process_response" in hops
    assert home.status_code == 200 and b"Ada" in home.content


def test_a_message_stored_under_asgi_is_shown_on_the_next_page(user, hops):
    user.is_staff = True
    user.save()

    async def scenario():
        client = AsyncClient()
        await client.aforce_login(user)
        saved = await client.post("/preferences/", {"email_on_success": "on", "email_on_failure": "on"})
        return saved, await client.get("/preferences/")

    saved, page = async_to_sync(scenario)()

    assert saved.status_code == 302
    assert "MessageMiddleware.process_response" in hops
    assert b"Notification preferences saved." in page.content


def test_the_trailing_slash_redirect_and_the_https_redirect_behave_as_under_wsgi(settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    async def scenario():
        client = AsyncClient()
        return (
            await client.get("/accounts/login", headers={"X-Forwarded-Proto": "https"}),
            await client.get("/accounts/login/"),
        )

    slash, plain = async_to_sync(scenario)()
    under_wsgi = Client().get("/accounts/login", headers={"X-Forwarded-Proto": "https"})

    assert slash.status_code == under_wsgi.status_code == 301
    assert slash["Location"] == under_wsgi["Location"] == "/accounts/login/"
    assert plain.status_code == 301 and plain["Location"].startswith("https://")


def test_the_deploy_checks_still_see_the_settings_our_middleware_applies(settings):
    settings.SECURE_HSTS_SECONDS = 0
    settings.X_FRAME_OPTIONS = "SAMEORIGIN"

    found = {message.id for message in check_middleware_settings(None)}

    assert {"security.W004", "security.W019"} <= found


def test_the_deploy_checks_report_a_missing_security_or_csrf_middleware(settings):
    settings.MIDDLEWARE = [
        path
        for path in settings.MIDDLEWARE
        if path not in {"reportsite.middleware.Security", "reportsite.middleware.Csrf"}
    ]

    found = {message.id for message in check_middleware_settings(None)}

    assert {"reportsite.W001", "reportsite.W003"} <= found and "reportsite.W002" not in found
