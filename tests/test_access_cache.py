"""The per-process access cache (reports/access_cache.py): lookups it answers need no query, and every change to
permissions, groups and report-type settings is obeyed by the next request in this process, and as soon as its
announcement arrives in others."""

import os
import threading
import time
from collections.abc import Callable
from types import SimpleNamespace

import httpx
import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from rest_framework.authtoken.models import Token

from common import access_cache
from events import channels
from events.log import event_record
from events.models import Delivery, Event
from notifications.webhooks.services import (
    ENDPOINT_CHANNEL,
    endpoint_create,
    endpoint_delete,
    endpoint_disable,
    endpoint_enable,
    endpoint_update,
)
from reports.errors import ReportTypeNotPermitted
from reports.models import Report, ReportTypeConfig
from reports.selectors import report_type_for_user

VIEW_USER = ("auth", "view_user")


def view_user_permission() -> Permission:
    return Permission.objects.get(content_type__app_label=VIEW_USER[0], codename=VIEW_USER[1])


def request_report(api) -> int:
    return api.post("/api/v1/reports", {"report_type": "user_access"}, format="json").status_code


def fresh(user: User) -> User:
    return User.objects.get(pk=user.pk)


@pytest.mark.django_db
def test_a_warm_lookup_needs_no_query(user, django_assert_num_queries):
    # Given Ada's first request read her permissions and the report-type settings
    report_type_for_user(user=fresh(user), key="user_access")

    # When a later request (a new user object, as each request has) asks again
    again = fresh(user)
    with django_assert_num_queries(0):
        available = report_type_for_user(user=again, key="user_access")

    # Then the answer came from the cache
    assert available.key == "user_access"


@pytest.mark.django_db
def test_a_revoked_and_restored_permission_is_obeyed_by_the_next_request(api, user):
    # Given Ada may request user_access and has done so (her permissions are cached)
    assert request_report(api) == 201

    # When the permission is taken away, then given back
    user.user_permissions.remove(view_user_permission())
    refused = request_report(api)
    user.user_permissions.add(view_user_permission())

    # Then the request in between was refused, and the one after is accepted
    assert refused == 403
    assert request_report(api) == 201
    assert Report.objects.count() == 2


@pytest.mark.django_db
def test_group_permissions_and_membership_changes_are_obeyed_at_once(api, user):
    # Given Ada holds the permission only through a group, and has used it
    user.user_permissions.clear()
    auditors = Group.objects.create(name="auditors")
    auditors.permissions.add(view_user_permission())
    user.groups.add(auditors)
    assert request_report(api) == 201

    # When the group loses the permission, gets it back, and then Ada leaves the group
    auditors.permissions.remove(view_user_permission())
    without_group_permission = request_report(api)
    auditors.permissions.add(view_user_permission())
    with_it_again = request_report(api)
    auditors.user_set.remove(user)
    after_leaving = request_report(api)

    # Then each request saw the state before it
    assert (without_group_permission, with_it_again, after_leaving) == (403, 201, 403)


@pytest.mark.django_db
def test_report_type_settings_changes_are_obeyed_at_once(api, user):
    # Given Ada requested user_access with no settings in place
    assert request_report(api) == 201

    # When an admin limits it to a group Ada is not in, then adds her to that group, then disables the type
    config = ReportTypeConfig.objects.create(key="user_access")
    finance = Group.objects.create(name="finance")
    config.allowed_groups.add(finance)
    outside_the_group = request_report(api)
    user.groups.add(finance)
    inside_the_group = request_report(api)
    config.enabled = False
    config.save()
    disabled = request_report(api)

    # Then every request obeyed the settings of its moment
    assert (outside_the_group, inside_the_group, disabled) == (403, 201, 400)


def refused_within(seconds: float, lookup: Callable[[], object]) -> bool:
    """Whether `lookup` raises ReportTypeNotPermitted before `seconds` pass: an announcement reaches a process's
    listener thread a moment after it is published."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            lookup()
        except ReportTypeNotPermitted:
            return True
        time.sleep(0.01)
    return False


def listener_connection_ids() -> list[str]:
    """This process's listener's connections to Redis (other processes may listen too)."""
    name = f"{access_cache.LISTENER_NAME}-{os.getpid()}"
    return [client["id"] for client in cache._cache.get_client().client_list() if client["name"] == name]


@pytest.mark.django_db
def test_a_change_announced_by_another_process_empties_the_cache(user):
    # Given this process cached that Ada may request user_access
    report_type_for_user(user=fresh(user), key="user_access")

    # When another process revokes the permission: its rows change here without this process's signals...
    User.user_permissions.through.objects.filter(user=user).delete()
    still_cached = report_type_for_user(user=fresh(user), key="user_access")
    # ...and its commit announces the change
    cache._cache.get_client().publish(access_cache.CHANNEL, "changed")

    # Then lookups here read the database again and refuse
    assert still_cached.key == "user_access"
    assert refused_within(5, lambda: report_type_for_user(user=fresh(user), key="user_access"))


@pytest.mark.django_db
def test_a_listener_that_lost_redis_starts_again_with_an_empty_cache(user):
    # Given a cached answer, and a revocation that no signal announced
    report_type_for_user(user=fresh(user), key="user_access")
    User.user_permissions.through.objects.filter(user=user).delete()

    # When the listener's connection is cut (any announcement in between would be lost)
    [before] = listener_connection_ids()
    cache._cache.get_client().client_kill_filter(_id=before)

    # Then it subscribes again on a new connection, and what it held before is gone
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and listener_connection_ids() in ([], [before]):
        time.sleep(0.02)
    assert listener_connection_ids() not in ([], [before])
    assert refused_within(5, lambda: report_type_for_user(user=fresh(user), key="user_access"))


@pytest.mark.django_db
def test_entries_older_than_max_age_are_read_again(user, monkeypatch):
    # Given a cached answer, and a revocation that no signal announced
    report_type_for_user(user=fresh(user), key="user_access")
    User.user_permissions.through.objects.filter(user=user).delete()

    # When the entry is older than MAX_AGE
    monkeypatch.setattr(access_cache, "MAX_AGE", 0.0)

    # Then the lookup reads the database and refuses
    with pytest.raises(ReportTypeNotPermitted):
        report_type_for_user(user=fresh(user), key="user_access")


@pytest.mark.django_db
def test_while_the_listener_is_not_subscribed_every_lookup_reads_the_database(
    user, monkeypatch, django_assert_num_queries
):
    # Given a warm cache, and then the listener loses its subscription (Redis is away)
    report_type_for_user(user=fresh(user), key="user_access")
    unsubscribed = SimpleNamespace(subscribed=threading.Event())
    monkeypatch.setattr(access_cache, "_current_listener", lambda: unsubscribed)

    # When a revocation that no signal announced happens
    User.user_permissions.through.objects.filter(user=user).delete()

    # Then the lookup queries the database (settings, own and group permissions: nothing cached is trusted) and
    # refuses at once
    again = fresh(user)
    with django_assert_num_queries(3), pytest.raises(ReportTypeNotPermitted):
        report_type_for_user(user=again, key="user_access")


@pytest.mark.django_db(transaction=True)
def test_a_revocation_reaches_a_separate_server_process_at_once(live_server_url, make_user):
    # Given Ada requested a report through daphne, a process with its own cache
    ada = make_user("ada-remote")
    headers = {"Authorization": f"Token {Token.objects.create(user=ada).key}"}
    body = {"report_type": "user_access"}
    with httpx.Client(base_url=live_server_url, headers=headers, timeout=10) as client:
        assert client.post("/api/v1/reports", json=body).status_code == 201

        # When her permission is revoked here, in another process, and committed
        ada.user_permissions.remove(view_user_permission())

        # Then daphne refuses her from then on (the announcement takes a moment to reach it: the first request
        # after it is normally already refused)
        answers = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (not answers or answers[-1].status_code != 403):
            answers.append(client.post("/api/v1/reports", json=body))
    assert answers[-1].status_code == 403
    assert answers[-1].headers["Content-Type"] == "application/problem+json"


@pytest.mark.django_db
def test_webhook_endpoint_changes_reach_the_next_event(
    user, settings, django_assert_num_queries, django_capture_on_commit_callbacks
):
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]  # nothing is sent here: deliveries are only created

    def record() -> Event:
        with django_capture_on_commit_callbacks(execute=True):  # its commit fans it out
            return event_record(user_id=user.id, event_type="report.queued", data={"report": {"id": "rep_followed"}})

    def fan_out() -> list[tuple[str, str]]:
        event = record()
        return list(Delivery.objects.filter(event=event, channel=ENDPOINT_CHANNEL).values_list("target", "status"))

    # Given Ada has no endpoint, and an event already found that out
    assert fan_out() == []
    # Then the webhook channel names the (no) endpoints of her next event without a query
    event = record()
    with django_assert_num_queries(0):
        assert list(channels.get(ENDPOINT_CHANNEL).targets(event)) == []

    # When she registers an endpoint for queued reports, it is disabled, it changes its events, and is deleted
    endpoint = endpoint_create(owner=user, url="http://127.0.0.1:9/hooks", event_types=["report.queued"])
    endpoint_id = endpoint.id  # deleting it below forgets its pk
    registered = fan_out()
    endpoint_disable(endpoint=endpoint, reason="Too many failures.")
    disabled = fan_out()
    endpoint_enable(endpoint=endpoint)
    endpoint_update(endpoint=endpoint, event_types=["report.succeeded"])
    unsubscribed = fan_out()
    endpoint_update(endpoint=endpoint, event_types=["report.queued"])
    endpoint_delete(endpoint=endpoint)
    deleted = fan_out()

    # Then each event followed the endpoint as it was
    assert registered == [(endpoint_id, "pending")]
    assert disabled == [(endpoint_id, "skipped")]
    assert unsubscribed == []
    assert deleted == []
