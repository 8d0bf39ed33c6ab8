"""Resumable streams (SPEC §15): a client that reconnects with the last event id it saw gets every event it missed,
then the live ones, each once and in `sequence` order, over the WebSocket and over Server-Sent Events."""

import json
import threading
import time

import httpx
import pytest
import websockets.sync.client
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from events.log import event_record
from events.models import Event
from reports import events as report_events
from reports.services import report_create, report_render
from reportsite.asgi import application
from tests.conftest import client_for
from tests.testapp.report_types import TEST_PERMISSION

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10


def _token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def _headers(user) -> list[tuple[bytes, bytes]]:
    return [(b"host", b"localhost"), (b"authorization", f"Token {_token(user)}".encode())]


def _note(user, number: int) -> Event:
    """An event of the user's stream that no report is about: quick to write many of."""
    return event_record(user_id=user.pk, event_type="ping", data={"n": number})


async def _receive_all(communicator: WebsocketCommunicator, count: int) -> list[dict]:
    return [await communicator.receive_json_from(TIMEOUT) for _ in range(count)]


# --- WebSocket, in process ------------------------------------------------------------------------------------------


def test_the_user_socket_replays_what_was_missed_then_goes_live(user):
    written = [_note(user, number) for number in range(6)]

    headers = _headers(user)

    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/reports/?after={written[1].id}", headers=headers)
        assert (await socket.connect())[0]
        replayed = await _receive_all(socket, 4)
        await sync_to_async(_note)(user, 6)
        live = await socket.receive_json_from(TIMEOUT)
        assert await socket.receive_nothing(0.3)
        await socket.disconnect()
        return replayed, live

    replayed, live = async_to_sync(scenario)()

    assert [event["id"] for event in replayed] == [event.id for event in written[2:]]
    assert [event["sequence"] for event in replayed] == [3, 4, 5, 6]
    assert (live["sequence"], live["data"]) == (7, {"n": 6})


def test_events_written_while_the_socket_replays_arrive_once_and_in_order(user):
    # Given a client that missed 200 events and reconnects while 100 more are being written
    first = _note(user, 0)
    for number in range(1, 200):
        _note(user, number)
    stop = threading.Event()
    headers = _headers(user)

    def write_more():
        for number in range(200, 300):
            _note(user, number)
        stop.set()

    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/reports/?after={first.id}", headers=headers)
        writer = threading.Thread(target=write_more)
        writer.start()  # racing the replay: some of these are read from the log, some arrive live, some both
        assert (await socket.connect())[0]
        received = await _receive_all(socket, 299)
        await sync_to_async(writer.join)(30)
        assert await socket.receive_nothing(0.5)
        await socket.disconnect()
        return received

    received = async_to_sync(scenario)()

    # Then every later event arrived exactly once, in sequence order
    assert [event["sequence"] for event in received] == list(range(2, 301))
    assert stop.is_set()


def test_an_event_whose_live_copy_never_came_is_read_from_the_log(user, monkeypatch):
    # Given a socket following Ada's stream, and an event whose publish is lost on its way
    headers = _headers(user)

    async def scenario():
        socket = WebsocketCommunicator(application, "/ws/reports/", headers=headers)
        assert (await socket.connect())[0]
        real_send = report_events.live.group_send
        monkeypatch.setattr(report_events.live, "group_send", lambda messages: None)
        lost = await sync_to_async(_note)(user, 1)
        monkeypatch.setattr(report_events.live, "group_send", real_send)
        # When the next event arrives live
        after = await sync_to_async(_note)(user, 2)
        received = await _receive_all(socket, 2)
        assert await socket.receive_nothing(0.3)
        await socket.disconnect()
        return lost, after, received

    lost, after, received = async_to_sync(scenario)()

    # Then the lost one is read from the log and sent first
    assert [event["id"] for event in received] == [lost.id, after.id]


@pytest.mark.parametrize("cursor", ["evt_unknown0000000000000000", "not-an-id", "FOREIGN"])
def test_a_cursor_that_cannot_be_served_resets_the_stream(user, make_user, cursor):
    if cursor == "FOREIGN":
        cursor = _note(make_user("bob"), 0).id
    report = report_create(user=user, report_type="user_access", parameters={})
    headers = _headers(user)

    async def scenario():
        every = WebsocketCommunicator(application, f"/ws/reports/?after={cursor}", headers=headers)
        one = WebsocketCommunicator(application, f"/ws/reports/{report.id}/?after={cursor}", headers=headers)
        assert (await every.connect())[0] and (await one.connect())[0]
        reset_every = await every.receive_json_from(TIMEOUT)
        reset_one, snapshot = await _receive_all(one, 2)
        assert await every.receive_nothing(0.2)
        await every.disconnect()
        await one.disconnect()
        return reset_every, reset_one, snapshot

    reset_every, reset_one, snapshot = async_to_sync(scenario)()

    assert reset_every["type"] == reset_one["type"] == "stream.reset"
    assert reset_every["reason"]
    assert (snapshot["type"], snapshot["data"]["report"]["status"]) == ("report.snapshot", "queued")


def test_the_report_socket_replays_only_its_report_and_sends_no_snapshot(user):
    mine = report_create(user=user, report_type="user_access", parameters={})
    other = report_create(user=user, report_type="user_access", parameters={})
    queued = Event.objects.get(report=mine, type="report.queued")
    report_render(other.id)
    report_render(mine.id)
    headers = _headers(user)

    async def scenario():
        socket = WebsocketCommunicator(application, f"/ws/reports/{mine.id}/?after={queued.id}", headers=headers)
        assert (await socket.connect())[0]
        received = await _receive_all(socket, 3)
        assert await socket.receive_nothing(0.3)
        await socket.disconnect()
        return received

    received = async_to_sync(scenario)()

    assert [event["type"] for event in received] == ["report.running", "report.progress", "report.succeeded"]
    assert {event["data"]["report"]["id"] for event in received} == {mine.id}


# --- Server-Sent Events and the WebSocket, through daphne, with a real worker ------------------------------------


def _sse_events(response: httpx.Response, until) -> list[dict]:
    """Read `id:`/`event:`/`data:` blocks until `until(events)` says enough."""
    events: list[dict] = []
    block: dict[str, str] = {}
    for line in response.iter_lines():
        if line == "":
            if "data" in block:
                events.append(block)
                if until(events):
                    return events
            block = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            block[field] = value.removeprefix(" ")
    return events


def test_sse_answers_problems_before_any_stream(live_server_url, make_user):
    ada, bob = make_user("ada"), make_user("bob")
    theirs = report_create(user=bob, report_type="user_access", parameters={})
    with httpx.Client(base_url=live_server_url, timeout=TIMEOUT) as http:
        anonymous = http.get("/api/v1/events/stream")
        foreign = http.get(
            f"/api/v1/events/stream?report={theirs.id}", headers={"Authorization": f"Token {_token(ada)}"}
        )

    assert (anonymous.status_code, anonymous.headers["content-type"]) == (401, "application/problem+json")
    assert (foreign.status_code, foreign.headers["content-type"]) == (404, "application/problem+json")
    assert foreign.json()["status"] == 404


def test_sse_resumes_from_last_event_id_and_resets_an_unknown_one(live_server_url, user):
    written = [_note(user, number) for number in range(5)]
    headers = {"Authorization": f"Token {_token(user)}"}
    with httpx.Client(base_url=live_server_url, timeout=TIMEOUT) as http:
        with http.stream("GET", "/api/v1/events/stream", headers={**headers, "Last-Event-ID": written[2].id}) as sse:
            assert sse.headers["content-type"].startswith("text/event-stream")
            replayed = _sse_events(sse, lambda events: len(events) == 2)
        with http.stream("GET", "/api/v1/events/stream?after=evt_unknown0000000000000000", headers=headers) as sse:
            reset = _sse_events(sse, lambda events: len(events) == 1)

    assert [(event["id"], event["event"]) for event in replayed] == [(written[3].id, "ping"), (written[4].id, "ping")]
    assert json.loads(replayed[0]["data"])["sequence"] == 4
    assert reset[0]["event"] == "stream.reset"


def _submit(client, count: int, seconds: float = 0.1) -> list[str]:
    body = {"report_type": "test_counted", "parameters": {"seconds": seconds}}
    return [client.post("/api/v1/reports", body, format="json").json()["id"] for _ in range(count)]


def _ws_read(url: str, token: str, stop, received: list[dict]) -> None:
    with websockets.sync.client.connect(url, additional_headers={"Authorization": f"Token {token}"}) as socket:
        while not stop(received):
            received.append(json.loads(socket.recv(timeout=TIMEOUT)))


def test_twenty_reports_in_flight_a_cut_and_a_resume_lose_nothing_on_any_stream(live_server_url, make_user, rq_worker):
    ada = make_user("ada", perms=(TEST_PERMISSION,))
    token = _token(ada)
    ws_base = live_server_url.replace("http://", "ws://")
    reports = _submit(client_for(ada), 20)
    followed = reports[10]
    done = {"report.succeeded", "report.failed"}

    def all_done(events: list[dict]) -> bool:
        return sum(event.get("type") in done for event in events) >= 20

    # The user's WebSocket, from the stream's first event (the worker may have finished some reports already): a few
    # events, a cut, then a resume from the last id seen
    first = Event.objects.filter(user=ada).order_by("sequence").first()
    user_ws: list[dict] = []
    _ws_read(f"{ws_base}/ws/reports/?after={first.id}", token, lambda events: len(events) >= 5, user_ws)
    time.sleep(0.5)  # reports go on finishing while nobody listens
    _ws_read(f"{ws_base}/ws/reports/?after={user_ws[-1]['id']}", token, all_done, user_ws)

    # The report's WebSocket: its snapshot, a cut after its first event, a resume
    report_ws: list[dict] = []
    _ws_read(f"{ws_base}/ws/reports/{followed}/", token, lambda events: len(events) >= 1, report_ws)
    snapshot = report_ws.pop(0)
    if snapshot["data"]["report"]["status"] not in ("succeeded", "failed"):
        _ws_read(
            f"{ws_base}/ws/reports/{followed}/?after={snapshot['id']}",
            token,
            lambda events: any(event["type"] in done for event in events),
            report_ws,
        )

    # SSE from the start of the stream: a cut after a few events, a resume with Last-Event-ID
    headers = {"Authorization": f"Token {token}"}
    with httpx.Client(base_url=live_server_url, timeout=TIMEOUT) as http:
        with http.stream("GET", f"/api/v1/events/stream?after={first.id}", headers=headers) as sse:
            user_sse = _sse_events(sse, lambda events: len(events) >= 7)
        with http.stream(
            "GET", "/api/v1/events/stream", headers={**headers, "Last-Event-ID": user_sse[-1]["id"]}
        ) as sse:
            user_sse += _sse_events(
                sse, lambda events: sum(event["event"] in done for event in user_sse + events) >= 20
            )
        with http.stream("GET", f"/api/v1/events/stream?report={followed}&after={first.id}", headers=headers) as sse:
            report_sse = _sse_events(sse, lambda events: any(event["event"] in done for event in events))

    logged = list(Event.objects.filter(user=ada).order_by("sequence").values_list("sequence", "id"))
    # The user's WebSocket: from its first event on, every one exactly once, in order
    sequences = [event["sequence"] for event in user_ws]
    assert sequences == list(range(2, sequences[-1] + 1))
    assert sum(event["type"] in done for event in user_ws) == 20
    # The report's WebSocket: the report's events after the snapshot, once each and in order
    theirs = [sequence for sequence, _ in Event.objects.filter(report_id=followed).values_list("sequence", "id")]
    later = [sequence for sequence in theirs if snapshot["sequence"] is None or sequence > snapshot["sequence"]]
    assert [event["sequence"] for event in report_ws] == sorted(later)[: len(report_ws)]
    # SSE: the whole stream after the first event, once each and in order, with the log's ids
    sse_sequences = [json.loads(event["data"])["sequence"] for event in user_sse]
    assert sse_sequences == list(range(2, sse_sequences[-1] + 1))
    assert [event["id"] for event in user_sse] == [event_id for _, event_id in logged[1 : len(user_sse) + 1]]
    assert [json.loads(event["data"])["sequence"] for event in report_sse] == sorted(
        sequence for sequence in theirs if sequence > 1
    )


def test_the_stream_is_in_the_openapi_schema(api):
    schema = api.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()

    operation = schema["paths"]["/api/v1/events/stream"]["get"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert {parameter["name"] for parameter in operation["parameters"]} == {"report", "after", "Last-Event-ID"}
    assert operation["responses"]["401"]["content"]["application/problem+json"]
