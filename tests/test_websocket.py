"""The WebSocket API (SPEC §6) through channels' WebsocketCommunicator, on the real Redis channel layer."""

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from reports.services import report_cancel, report_create, report_render
from reportsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

RECEIVE_TIMEOUT = 5


def _headers(token: str | None = None, origin: str | None = None) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", b"localhost")]
    if token:
        headers.append((b"authorization", f"Token {token}".encode()))
    if origin:
        headers.append((b"origin", origin.encode()))
    return headers


def _token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def run(scenario):
    return async_to_sync(scenario)()


def test_unauthenticated_connection_is_closed_with_4401():
    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/reports/", headers=_headers())
        connected, _ = await communicator.connect()
        assert connected
        assert await communicator.receive_output(RECEIVE_TIMEOUT) == {"type": "websocket.close", "code": 4401}

    run(scenario)


def test_bad_token_is_closed_with_4401():
    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/reports/", headers=_headers(token="nope"))
        await communicator.connect()
        assert await communicator.receive_output(RECEIVE_TIMEOUT) == {"type": "websocket.close", "code": 4401}

    run(scenario)


def test_another_users_report_is_closed_with_4404(make_user):
    # Given Bob's report, and Ada connected with her own token
    bob = make_user("bob")
    report = report_create(user=bob, report_type="user_access", parameters={})
    ada_token = _token(make_user("ada"))

    async def scenario():
        for report_id in (report.id, "rep_doesnotexist"):
            communicator = WebsocketCommunicator(
                application, f"/ws/reports/{report_id}/", headers=_headers(token=ada_token)
            )
            await communicator.connect()
            # Then she learns nothing of it: the socket closes with 4404 and nothing else
            assert await communicator.receive_output(RECEIVE_TIMEOUT) == {"type": "websocket.close", "code": 4404}

    run(scenario)


def test_foreign_origin_is_refused_and_allowed_origin_and_no_origin_are_accepted(user):
    token = _token(user)

    async def scenario():
        foreign = WebsocketCommunicator(
            application, "/ws/reports/", headers=_headers(token=token, origin="http://evil.example")
        )
        connected, _ = await foreign.connect()
        assert not connected
        for origin in ("http://localhost:8000", None):
            communicator = WebsocketCommunicator(
                application, "/ws/reports/", headers=_headers(token=token, origin=origin)
            )
            connected, _ = await communicator.connect()
            assert connected
            assert await communicator.receive_nothing(0.2)
            await communicator.disconnect()

    run(scenario)


def test_snapshot_after_completion_tells_the_outcome_at_once(user):
    # Given a report that finished before anyone listened
    report = report_create(user=user, report_type="user_access", parameters={})
    report_render(report.id)
    token = _token(user)

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/reports/{report.id}/", headers=_headers(token=token))
        connected, _ = await communicator.connect()
        assert connected
        snapshot = await communicator.receive_json_from(RECEIVE_TIMEOUT)
        assert snapshot["type"] == "report.snapshot"
        assert snapshot["id"].startswith("evt_")
        assert snapshot["data"]["report"]["id"] == report.id
        assert snapshot["data"]["report"]["status"] == "succeeded"
        assert snapshot["data"]["report"]["file"]["pages"] == 1
        await communicator.disconnect()

    run(scenario)


def test_events_of_one_report_arrive_in_order_on_both_routes(user):
    report = report_create(user=user, report_type="user_access", parameters={})
    token = _token(user)

    async def scenario():
        one = WebsocketCommunicator(application, f"/ws/reports/{report.id}/", headers=_headers(token=token))
        every = WebsocketCommunicator(application, "/ws/reports/", headers=_headers(token=token))
        await one.connect()
        await every.connect()
        assert (await one.receive_json_from(RECEIVE_TIMEOUT))["data"]["report"]["status"] == "queued"

        # When the worker's service builds it
        await sync_to_async(report_render)(report.id)

        # Then both sockets see running, then succeeded, each event once and in order, with the same ids
        received = {}
        for name, communicator in (("one", one), ("every", every)):
            events = [await communicator.receive_json_from(RECEIVE_TIMEOUT) for _ in range(3)]
            received[name] = events
            assert [event["type"] for event in events] == ["report.running", "report.progress", "report.succeeded"]
            assert events[-1]["data"]["report"]["file"] is not None
            assert await communicator.receive_nothing(0.2)
            await communicator.disconnect()
        assert [event["id"] for event in received["one"]] == [event["id"] for event in received["every"]]

    run(scenario)


def test_user_stream_carries_only_the_users_own_reports(make_user):
    ada, bob = make_user("ada"), make_user("bob")
    token = _token(ada)

    async def scenario():
        communicator = WebsocketCommunicator(application, "/ws/reports/", headers=_headers(token=token))
        await communicator.connect()
        bobs = await sync_to_async(report_create)(user=bob, report_type="user_access", parameters={})
        await sync_to_async(report_cancel)(report=bobs)
        assert await communicator.receive_nothing(0.3)
        adas = await sync_to_async(report_create)(user=ada, report_type="user_access", parameters={})
        queued = await communicator.receive_json_from(RECEIVE_TIMEOUT)
        assert (queued["type"], queued["data"]["report"]["id"]) == ("report.queued", adas.id)
        await communicator.disconnect()

    run(scenario)


def test_report_stream_carries_only_its_own_report_of_the_same_user(user):
    followed = report_create(user=user, report_type="user_access", parameters={})
    token = _token(user)

    async def scenario():
        communicator = WebsocketCommunicator(application, f"/ws/reports/{followed.id}/", headers=_headers(token=token))
        await communicator.connect()
        assert (await communicator.receive_json_from(RECEIVE_TIMEOUT))["type"] == "report.snapshot"

        # When another report of the same requester is created and cancelled
        other = await sync_to_async(report_create)(user=user, report_type="user_access", parameters={})
        await sync_to_async(report_cancel)(report=other)
        # Then this socket hears nothing of it, and still hears its own report
        assert await communicator.receive_nothing(0.3)
        await sync_to_async(report_cancel)(report=followed)
        cancelled = await communicator.receive_json_from(RECEIVE_TIMEOUT)
        assert (cancelled["type"], cancelled["data"]["report"]["id"]) == ("report.cancelled", followed.id)
        await communicator.disconnect()

    run(scenario)
