"""GraphQL subscriptions over `graphql-transport-ws` on /graphql (SPEC §16): a report's events in order, completed
after the terminal one; a resume with `after`; 4403 without credentials; NOT_FOUND for what is not the caller's.
In process for the protocol's rules, and through daphne with a real worker for a report built end to end."""

import json
import re
import uuid
from pathlib import Path

import pytest
import websockets.sync.client
from asgiref.sync import async_to_sync, sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from events.models import Event
from reports.services import report_create, report_render
from reportsite.asgi import application
from tests.conftest import client_for
from tests.testapp.report_types import TEST_PERMISSION

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10
PROTOCOL = "graphql-transport-ws"
FOLLOW = """subscription Follow($reportId: ID, $after: String) {
  reportEvents(reportId: $reportId, after: $after) { id type sequence timestamp report { id status progress } reason }
}"""


def _token(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


class Socket:
    """The client side of graphql-transport-ws over an in-process communicator."""

    def __init__(self, headers: list[tuple[bytes, bytes]] | None = None):
        self.communicator = WebsocketCommunicator(
            application, "/graphql", headers=[(b"host", b"localhost"), *(headers or [])], subprotocols=[PROTOCOL]
        )

    async def open(self, payload: dict | None = None) -> dict:
        connected, subprotocol = await self.communicator.connect()
        assert connected and subprotocol == PROTOCOL
        await self.communicator.send_json_to({"type": "connection_init", "payload": payload or {}})
        return await self.communicator.receive_output(TIMEOUT)

    async def subscribe(self, variables: dict, query: str = FOLLOW) -> str:
        operation = str(uuid.uuid4())
        await self.communicator.send_json_to(
            {"id": operation, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
        return operation

    async def messages_until_complete(self) -> list[dict]:
        received = []
        while not received or received[-1]["type"] != "complete":
            received.append(await self.communicator.receive_json_from(TIMEOUT))
        return received

    async def close(self) -> None:
        await self.communicator.disconnect()


def _events(messages: list[dict]) -> list[dict]:
    return [message["payload"]["data"]["reportEvents"] for message in messages if message["type"] == "next"]


def test_a_report_followed_from_the_start_yields_its_events_in_order_then_completes(user):
    report = report_create(user=user, report_type="user_access", parameters={})

    async def scenario():
        socket = Socket()
        ack = await socket.open({"Authorization": f"Token {await sync_to_async(_token)(user)}"})
        assert ack["type"] == "websocket.send" and json.loads(ack["text"]) == {"type": "connection_ack"}
        await socket.subscribe({"reportId": report.id})
        snapshot = await socket.communicator.receive_json_from(TIMEOUT)
        await sync_to_async(report_render)(report.id)
        messages = [snapshot, *await socket.messages_until_complete()]
        await socket.close()
        return messages

    messages = async_to_sync(scenario)()

    events = _events(messages)
    logged = list(Event.objects.filter(report=report).order_by("sequence").values_list("id", "sequence", "type"))
    assert events[0]["type"] == "report.snapshot"
    assert (events[0]["id"], events[0]["report"]["status"]) == (logged[0][0], "QUEUED")
    assert [(event["id"], event["sequence"], event["type"]) for event in events[1:]] == logged[1:]
    assert [event["type"] for event in events[1:]] == ["report.running", "report.progress", "report.succeeded"]
    assert events[-1]["report"] == {"id": report.id, "status": "SUCCEEDED", "progress": 100}
    assert messages[-1]["type"] == "complete"


def test_after_replays_what_was_missed_and_a_finished_report_completes_at_once(user):
    report = report_create(user=user, report_type="user_access", parameters={})
    report_render(report.id)
    logged = list(Event.objects.filter(report=report).order_by("sequence"))

    async def scenario():
        socket = Socket([(b"authorization", f"Token {await sync_to_async(_token)(user)}".encode())])
        assert json.loads((await socket.open())["text"])["type"] == "connection_ack"
        await socket.subscribe({"reportId": report.id, "after": logged[0].id})
        resumed = await socket.messages_until_complete()
        await socket.subscribe({"reportId": report.id})
        fresh = await socket.messages_until_complete()
        await socket.close()
        return resumed, fresh

    resumed, fresh = async_to_sync(scenario)()

    assert [event["id"] for event in _events(resumed)] == [event.id for event in logged[1:]]
    # Without `after`, the snapshot of a finished report is all there is
    assert [(event["type"], event["report"]["status"]) for event in _events(fresh)] == [
        ("report.snapshot", "SUCCEEDED")
    ]


def test_the_users_stream_resumes_after_a_cursor_and_resets_one_it_cannot_serve(user, make_user):
    first = report_create(user=user, report_type="user_access", parameters={})
    second = report_create(user=user, report_type="user_access", parameters={})
    cursor = Event.objects.get(report=first).id
    foreign = Event.objects.get(report=report_create(user=make_user("bob"), report_type="user_access", parameters={}))

    async def scenario():
        socket = Socket()
        await socket.open({"authorization": f"Token {await sync_to_async(_token)(user)}"})
        await socket.subscribe({"after": cursor})
        replayed = await socket.communicator.receive_json_from(TIMEOUT)
        await socket.subscribe({"after": foreign.id})
        reset = await socket.communicator.receive_json_from(TIMEOUT)
        await sync_to_async(report_render)(second.id)
        live = [await socket.communicator.receive_json_from(TIMEOUT) for _ in range(6)]
        await socket.close()
        return replayed, reset, live

    replayed, reset, live = async_to_sync(scenario)()

    second_queued = Event.objects.get(report=second, type="report.queued")
    assert _events([replayed])[0]["id"] == second_queued.id
    assert _events([reset])[0] | {"timestamp": None} == {
        "id": None,
        "type": "stream.reset",
        "sequence": None,
        "timestamp": None,
        "report": None,
        "reason": f"{foreign.id!r} is not an event of yours that is still kept.",
    }
    # Both subscriptions go on live: each of the three events once on each
    by_operation: dict[str, list[str]] = {}
    for message in live:
        by_operation.setdefault(message["id"], []).append(message["payload"]["data"]["reportEvents"]["type"])
    assert list(by_operation.values()) == [["report.running", "report.progress", "report.succeeded"]] * 2


def test_without_credentials_the_socket_is_closed_with_4403(user):
    async def scenario(payload: dict, headers: list):
        socket = Socket(headers)
        closed = await socket.open(payload)
        await socket.close()
        return closed

    for payload, headers in [
        ({}, []),
        ({"Authorization": "Token not-a-token"}, []),
        ({"Authorization": "Bearer something"}, []),
        ({}, [(b"authorization", b"Token not-a-token")]),
    ]:
        assert async_to_sync(scenario)(payload, headers) == {
            "type": "websocket.close",
            "code": 4403,
            "reason": "Forbidden",
        }


def test_the_session_cookie_signs_a_browser_in(user, client):
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    report = report_create(user=user, report_type="user_access", parameters={})

    async def scenario():
        socket = Socket([(b"cookie", cookie), (b"origin", b"http://localhost")])
        ack = await socket.open()
        await socket.subscribe({"reportId": report.id})
        snapshot = await socket.communicator.receive_json_from(TIMEOUT)
        await socket.close()
        return ack, snapshot

    ack, snapshot = async_to_sync(scenario)()

    assert json.loads(ack["text"]) == {"type": "connection_ack"}
    assert _events([snapshot])[0]["report"]["id"] == report.id


@pytest.mark.parametrize("whose", ["another users", "unknown"])
def test_another_users_report_and_an_unknown_id_are_not_found(user, make_user, whose):
    report_id = "rep_doesnotexist00000000000"
    if whose == "another users":
        report_id = report_create(user=make_user("bob"), report_type="user_access", parameters={}).id

    async def scenario():
        socket = Socket()
        await socket.open({"Authorization": f"Token {await sync_to_async(_token)(user)}"})
        await socket.subscribe({"reportId": report_id})
        messages = await socket.messages_until_complete()
        await socket.close()
        return messages

    messages = async_to_sync(scenario)()

    [result, complete] = messages
    assert complete["type"] == "complete"
    assert result["payload"]["data"] is None
    assert [error["extensions"]["code"] for error in result["payload"]["errors"]] == ["NOT_FOUND"]


def test_queries_and_mutations_run_over_the_socket_too(user):
    async def scenario():
        socket = Socket()
        await socket.open({"Authorization": f"Token {await sync_to_async(_token)(user)}"})
        await socket.subscribe({}, query="{ me { username } reports { nodes { id } } }")
        query = await socket.messages_until_complete()
        await socket.subscribe(
            {}, query='mutation { requestReport(input: {reportType: "user_access"}) { report { id status } } }'
        )
        mutation = await socket.messages_until_complete()
        await socket.close()
        return query, mutation

    query, mutation = async_to_sync(scenario)()

    assert query[0]["payload"] == {"data": {"me": {"username": "ada"}, "reports": {"nodes": []}}}
    made = mutation[0]["payload"]["data"]["requestReport"]["report"]
    assert made["status"] == "QUEUED" and Event.objects.filter(report_id=made["id"]).exists()


# --- Through daphne, with a real worker ----------------------------------------------------------------------------


def test_through_daphne_a_report_built_by_the_worker_is_followed_to_its_end(live_server_url, make_user, rq_worker):
    ada = make_user("ada", perms=(TEST_PERMISSION,))
    token = _token(ada)
    url = live_server_url.replace("http://", "ws://") + "/graphql"

    with websockets.sync.client.connect(url, subprotocols=[PROTOCOL], open_timeout=TIMEOUT) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {"Authorization": f"Token {token}"}}))
        assert json.loads(socket.recv(timeout=TIMEOUT)) == {"type": "connection_ack"}
        created = client_for(ada).post(
            "/graphql",
            json.dumps(
                {
                    "query": 'mutation { requestReport(input: {reportType: "test_slow", parameters: {seconds: 0.3}}) '
                    "{ report { id } } }"
                }
            ),
            content_type="application/json",
        )
        report_id = created.json()["data"]["requestReport"]["report"]["id"]
        socket.send(
            json.dumps(
                {"id": "1", "type": "subscribe", "payload": {"query": FOLLOW, "variables": {"reportId": report_id}}}
            )
        )
        messages = []
        while not messages or messages[-1]["type"] != "complete":
            messages.append(json.loads(socket.recv(timeout=30)))

    events = _events(messages)
    logged = list(Event.objects.filter(report_id=report_id).order_by("sequence").values_list("sequence", flat=True))
    assert events[0]["type"] == "report.snapshot"
    later = [event["sequence"] for event in events[1:]]
    assert later == [sequence for sequence in logged if sequence > (events[0]["sequence"] or 0)]
    assert events[-1]["type"] == "report.succeeded" and events[-1]["report"]["status"] == "SUCCEEDED"
    progress = [event["report"]["progress"] for event in events if event["type"] == "report.progress"]
    assert progress == sorted(progress) and progress


def test_through_daphne_no_credentials_closes_with_4403(live_server_url):
    url = live_server_url.replace("http://", "ws://") + "/graphql"

    with websockets.sync.client.connect(url, subprotocols=[PROTOCOL], open_timeout=TIMEOUT) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": {}}))
        with pytest.raises(websockets.exceptions.ConnectionClosed) as closed:
            socket.recv(timeout=TIMEOUT)

    assert closed.value.rcvd.code == 4403


def test_the_python_example_of_docs_graphql_follows_a_report_and_resumes(live_server_url, make_user, rq_worker):
    # docs/graphql.md's `follow`, as written
    doc = (Path(__file__).resolve().parent.parent / "docs" / "graphql.md").read_text()
    code = re.findall(r"^```python\n(.*?)^```$", doc, flags=re.MULTILINE | re.DOTALL)[0]
    namespace: dict = {}
    exec(compile(code, "docs/graphql.md", "exec"), namespace)  # noqa: S102
    ada = make_user("ada", perms=(TEST_PERMISSION,))
    report_id = (
        client_for(ada)
        .post("/api/v1/reports", {"report_type": "test_slow", "parameters": {"seconds": 0.3}}, format="json")
        .json()["id"]
    )

    events = list(namespace["follow"](live_server_url, _token(ada), report_id))
    resumed = list(namespace["follow"](live_server_url, _token(ada), report_id, after=events[1]["id"]))

    assert events[0]["type"] == "report.snapshot" and events[-1]["type"] == "report.succeeded"
    assert events[-1]["report"]["file"]["url"].endswith(f"/api/v1/reports/{report_id}/file")
    logged = list(Event.objects.filter(report_id=report_id).order_by("sequence").values_list("id", flat=True))
    assert [event["id"] for event in resumed] == logged[logged.index(events[1]["id"]) + 1 :]
