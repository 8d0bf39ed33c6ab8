"""Login throttling (SPEC §19): after repeated failures the UI's and the admin's logins are locked per user name and
per address, even for the right password, with a 429 page; password reset mails are throttled per address and per
email. API tokens are not passwords and are not affected."""

from collections import Counter
from datetime import timedelta

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth.models import User
from django.core import mail
from django.core.cache import cache
from django.db.models import F
from django.test import AsyncClient, Client

from tests.conftest import client_for

pytestmark = pytest.mark.django_db

ATTACKER = "203.0.113.7"
ELSEWHERE = "198.51.100.20"
LOGIN_URLS = ["/accounts/login/", "/admin/login/"]


@pytest.fixture
def ada() -> User:
    return User.objects.create_user("ada", "ada@example.com", "right-password", is_staff=True)


@pytest.fixture
def bob() -> User:
    return User.objects.create_user("bob", "bob@example.com", "bobs-password", is_staff=True)


def log_in(url: str, username: str, password: str, address: str) -> tuple[int, Client]:
    client = Client(REMOTE_ADDR=address)
    response = client.post(url, {"username": username, "password": password})
    return response.status_code, client


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize("url", LOGIN_URLS)
def test_forty_wrong_passwords_lock_the_login_even_for_the_right_one(url, ada, settings):
    # When an attacker tries 40 wrong passwords, then the right one
    statuses = Counter(log_in(url, "ada", f"guess-{n}", ATTACKER)[0] for n in range(40))
    client = Client(REMOTE_ADDR=ATTACKER)
    response = client.post(url, {"username": "ada", "password": "right-password"})

    # Then the right password does not get in, and a page says why and when to come back
    assert response.status_code == 429
    assert not signed_in(client)
    assert response["Retry-After"] == "900"
    page = response.content.decode()
    assert "Too many failed sign-ins" in page
    assert "Try again in 15 minutes" in page
    assert "Traceback" not in page
    # And the form answered the first failures, the lockout page every one from the limit on
    assert settings.AXES_FAILURE_LIMIT == 10
    assert statuses == Counter({200: 9, 429: 31})


def test_the_lock_is_per_user_name_and_per_address(ada, bob):
    # Given ada's user name locked by failures from the attacker's address
    for n in range(10):
        log_in("/accounts/login/", "ada", f"guess-{n}", ATTACKER)

    # Then another user from another address signs in
    status, client = log_in("/accounts/login/", "bob", "bobs-password", ELSEWHERE)
    assert (status, signed_in(client)) == (302, True)
    # But not ada from anywhere (her name is locked), nor anyone from the attacker's address
    status, client = log_in("/accounts/login/", "ada", "right-password", ELSEWHERE)
    assert (status, signed_in(client)) == (429, False)
    status, client = log_in("/admin/login/", "bob", "bobs-password", ATTACKER)
    assert (status, signed_in(client)) == (429, False)


def test_after_the_cool_off_the_right_password_signs_in(ada):
    from axes.models import AccessAttempt

    for n in range(10):
        log_in("/accounts/login/", "ada", f"guess-{n}", ATTACKER)
    assert log_in("/accounts/login/", "ada", "right-password", ATTACKER)[0] == 429

    # When the cool-off (15 minutes since the last failure) has passed
    AccessAttempt.objects.update(attempt_time=F("attempt_time") - timedelta(minutes=15, seconds=1))

    status, client = log_in("/accounts/login/", "ada", "right-password", ATTACKER)
    assert (status, signed_in(client)) == (302, True)


def test_an_admin_unlocks_at_once_with_axes_reset(ada):
    from axes.utils import reset

    for n in range(10):
        log_in("/admin/login/", "ada", f"guess-{n}", ATTACKER)

    assert reset(username="ada") == 1

    status, client = log_in("/admin/login/", "ada", "right-password", ELSEWHERE)
    assert (status, signed_in(client)) == (302, True)


def test_api_tokens_are_not_affected_by_a_locked_login(ada):
    for n in range(10):
        log_in("/accounts/login/", "ada", f"guess-{n}", "127.0.0.1")

    response = client_for(ada).get("/api/v1/me")

    assert response.status_code == 200
    assert response.json()["username"] == "ada"


@pytest.fixture
def reset_counts():
    """The reset limits count in the shared cache (Redis), which outlives a test's transaction."""
    cache.clear()
    mail.outbox.clear()
    yield
    cache.clear()


def ask_reset(email: str, address: str) -> int:
    return Client(REMOTE_ADDR=address).post("/accounts/password_reset/", {"email": email}).status_code


def test_password_reset_mails_are_throttled_per_email_and_per_address(ada, bob, reset_counts, settings):
    assert settings.PASSWORD_RESET_RATE == "5/hour"

    # When one address asks for ada's reset link five times, then once more from elsewhere
    assert [ask_reset("ada@example.com", ATTACKER) for _ in range(5)] == [302] * 5
    refused_for_the_email = ask_reset("ADA@example.com ", ELSEWHERE)
    # And asks for bob's: fine from elsewhere, refused from the address that used its five
    bob_from_elsewhere = ask_reset("bob@example.com", ELSEWHERE)
    refused_for_the_address = ask_reset("bob@example.com", ATTACKER)

    assert (refused_for_the_email, bob_from_elsewhere, refused_for_the_address) == (429, 302, 429)
    assert sorted(message.to[0] for message in mail.outbox) == ["ada@example.com"] * 5 + ["bob@example.com"]


def test_a_refused_reset_says_so_on_a_page(ada, reset_counts):
    for _ in range(5):
        ask_reset("ada@example.com", ATTACKER)

    response = Client(REMOTE_ADDR=ATTACKER).post("/accounts/password_reset/", {"email": "ada@example.com"})

    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert "Too many password reset requests" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_lockout_page_comes_through_the_asgi_stack_too(ada):
    """daphne runs the middleware in its async mode, whose path through django-axes differs from the sync one."""
    for n in range(10):
        log_in("/accounts/login/", "ada", f"guess-{n}", "127.0.0.1")

    response = async_to_sync(AsyncClient().post)("/accounts/login/", {"username": "ada", "password": "right-password"})

    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    assert "Too many failed sign-ins" in response.content.decode()
