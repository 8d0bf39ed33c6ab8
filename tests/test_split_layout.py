"""The split layout (docs/deployment.md, "HTTP on gunicorn"): nginx on one port in front of gunicorn (plain HTTP) and
daphne (the WebSocket, the event stream, long polls), started for real on free ports of 127.0.0.1 by
scripts/split_layout.py, from deploy/'s configs, on the test database and Redis, with DJANGO_DEBUG=0. nginx runs from
a temp directory: nothing under /etc is read or written. It must be installed (CI installs it): without it these
tests fail, saying how to install it.

The proxy says which server answered (X-Served-By), and that the client used https (X-Forwarded-Proto, as a TLS
terminator would); the client connects from 127.0.0.2, so the address the app sees is told apart from the proxy's."""

import json
import re
import time
from collections.abc import Iterator

import httpx
import pytest
import websockets.sync.client
from axes.models import AccessAttempt
from rest_framework.authtoken.models import Token

from events.log import event_record
from events.models import Event
from scripts.split_layout import NginxMissing, SplitLayout, find_nginx
from tests.conftest import process_env
from tests.testapp.report_types import TEST_PERMISSION

pytestmark = pytest.mark.django_db(transaction=True)

CLIENT_ADDRESS = "127.0.0.2"  # the tests' side of loopback; the proxy reaches the servers from 127.0.0.1
FORGED_ADDRESS = "203.0.113.7"
TIMEOUT = 10


@pytest.fixture(scope="module")
def layout(django_db_setup, tmp_path_factory) -> Iterator[SplitLayout]:
    env = process_env(DJANGO_DEBUG="0", DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost")
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    try:
        find_nginx()
        missing = None
    except NginxMissing as error:
        missing = str(error)
    if missing:  # a failure, not a skip: CI installs nginx, and a skipped test would hide a missing one
        pytest.fail(missing, pytrace=False)
    started = SplitLayout(tmp_path_factory.mktemp("split-layout"), env).start()
    yield started
    started.stop()


def _http(layout: SplitLayout) -> httpx.Client:
    """A client of the proxy's public port, from CLIENT_ADDRESS."""
    transport = httpx.HTTPTransport(local_address=CLIENT_ADDRESS)
    return httpx.Client(base_url=layout.url, transport=transport, timeout=TIMEOUT)


def _auth(user) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def _note(user, number: int) -> Event:
    """An event of the user's stream that no report is about."""
    return event_record(user_id=user.pk, event_type="ping", data={"n": number})


def _public_origin(layout: SplitLayout) -> str:
    return f"https://127.0.0.1:{layout.ports['nginx']}"


def test_plain_http_is_gunicorns_over_https_as_the_proxy_says(layout, user):
    with _http(layout) as http:
        me = http.get("/api/v1/me", headers=_auth(user))
        created = http.post(
            "/api/v1/reports", json={"report_type": "user_access", "parameters": {}}, headers=_auth(user)
        )
        poll = http.get(f"/api/v1/reports/{created.json()['id']}", headers=_auth(user))
        query = http.post("/graphql", json={"query": "{ reportTypes { key } }"}, headers=_auth(user))
    # gunicorn's own client sends no X-Forwarded-Proto: with DJANGO_DEBUG=0 it is sent to https
    direct = httpx.get(f"{layout.server_url('gunicorn')}/api/v1/me", headers=_auth(user), timeout=TIMEOUT)
    # A long poll that reaches gunicorn itself is answered at once, as a poll: WSGI holds no long polls
    misrouted = httpx.get(
        f"{layout.server_url('gunicorn')}/api/v1/reports/{created.json()['id']}",
        headers={**_auth(user), "Prefer": "wait=20", "X-Forwarded-Proto": "https"},
        timeout=TIMEOUT,
    )

    assert (me.status_code, me.headers["X-Served-By"], me.json()["username"]) == (200, "gunicorn", "ada")
    assert (created.status_code, created.headers["X-Served-By"]) == (201, "gunicorn")
    assert created.headers["Location"] == f"{_public_origin(layout)}/api/v1/reports/{created.json()['id']}"
    assert (poll.status_code, poll.headers["X-Served-By"]) == (200, "gunicorn")
    assert "Preference-Applied" not in poll.headers
    assert (query.status_code, query.headers["X-Served-By"]) == (200, "gunicorn")
    assert {"key": "user_access"} in query.json()["data"]["reportTypes"]
    gunicorn_port = layout.ports["gunicorn"]
    assert (direct.status_code, direct.headers["Location"]) == (301, f"https://127.0.0.1:{gunicorn_port}/api/v1/me")
    assert misrouted.status_code == 200 and misrouted.json()["status"] == "queued"
    assert "Preference-Applied" not in misrouted.headers


def test_the_app_sees_the_clients_address_as_the_proxy_says_not_the_clients_own_claim(layout, user):
    with _http(layout) as http:
        form = http.get("/accounts/login/")
        csrf = form.cookies["csrftoken"]  # a Secure cookie: httpx would not send it back over http, so by hand
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
        refused = http.post(
            "/accounts/login/",
            data={"username": "ada", "password": "not-her-password", "csrfmiddlewaretoken": token},
            headers={
                "Cookie": f"csrftoken={csrf}",
                "Origin": _public_origin(layout),
                "X-Forwarded-For": FORGED_ADDRESS,
            },
        )

    assert (form.headers["X-Served-By"], refused.status_code, refused.headers["X-Served-By"]) == (
        "gunicorn",
        200,
        "gunicorn",
    )
    # The login throttle counted the failure against the client's address: not the proxy's, nor the forged one
    assert list(AccessAttempt.objects.values_list("username", "ip_address", "failures_since_start")) == [
        ("ada", CLIENT_ADDRESS, 1)
    ]


def test_a_websocket_through_the_proxy_receives_an_event(layout, user):
    before = _note(user, 0)
    url = f"{layout.url.replace('http://', 'ws://')}/ws/reports/?after={before.id}"

    # With a browser's Origin: the socket is served at the proxy's public origin, https as the proxy says
    with websockets.sync.client.connect(
        url,
        additional_headers=_auth(user),
        origin=_public_origin(layout),
        source_address=(CLIENT_ADDRESS, 0),
        open_timeout=TIMEOUT,
    ) as socket:
        written = _note(user, 1)
        received = json.loads(socket.recv(timeout=TIMEOUT))

    assert socket.response.headers["X-Served-By"] == "daphne"
    assert (received["id"], received["type"], received["data"]) == (written.id, "ping", {"n": 1})


def test_a_graphql_subscription_socket_through_the_proxy_is_daphnes(layout, user):
    url = f"{layout.url.replace('http://', 'ws://')}/graphql"

    with websockets.sync.client.connect(
        url, subprotocols=["graphql-transport-ws"], source_address=(CLIENT_ADDRESS, 0), open_timeout=TIMEOUT
    ) as socket:
        socket.send(json.dumps({"type": "connection_init", "payload": _auth(user)}))
        acknowledged = json.loads(socket.recv(timeout=TIMEOUT))

    assert socket.response.headers["X-Served-By"] == "daphne"
    assert acknowledged == {"type": "connection_ack"}


def test_the_event_stream_through_the_proxy_delivers_each_event_as_it_happens(layout, user):
    with _http(layout) as http, http.stream("GET", "/api/v1/events/stream", headers=_auth(user)) as stream:
        lines = stream.iter_lines()
        # The stream's first line arrives alone, before any event: nothing holds it back to fill a buffer
        assert next(lines).startswith("retry:")
        written = _note(user, 1)
        sent = time.monotonic()
        block: dict[str, str] = {}
        for line in lines:
            if line == "" and "data" in block:
                break
            if line and not line.startswith(":"):
                field, _, value = line.partition(":")
                block[field] = value.removeprefix(" ")
        took = time.monotonic() - sent

    assert (stream.headers["X-Served-By"], stream.headers["content-type"]) == ("daphne", "text/event-stream")
    assert (block["id"], block["event"], json.loads(block["data"])["data"]) == (written.id, "ping", {"n": 1})
    # At once, not with the next keep-alive comment (every 15 s) nor at the end of the stream
    assert took < 5


def test_a_long_poll_through_the_proxy_is_held_by_daphne_until_the_report_finishes(layout, make_user, rq_worker):
    ada = make_user("ada", perms=(TEST_PERMISSION,))
    body = {"report_type": "test_slow", "parameters": {"seconds": 1}}
    with _http(layout) as http:
        created = http.post("/api/v1/reports", json=body, headers=_auth(ada))
        sent = time.monotonic()
        held = http.get(
            f"/api/v1/reports/{created.json()['id']}", headers={**_auth(ada), "Prefer": "wait=20"}, timeout=30
        )
        took = time.monotonic() - sent

    assert (created.status_code, created.headers["X-Served-By"]) == (201, "gunicorn")
    assert (held.status_code, held.headers["X-Served-By"]) == (200, "daphne")
    assert held.json()["status"] == "succeeded"
    assert held.headers["Preference-Applied"] == "wait=20"
    # Held while the report was built (a second), answered as it finished rather than when the 20 s were up
    assert 0.5 < took < 15
    # Its links are https, as the proxy said, and daphne logged the client's address, not the proxy's
    assert held.json()["links"]["events"].startswith("wss://127.0.0.1:")
    log = layout.log_text("daphne")
    assert re.search(
        rf'^{re.escape(CLIENT_ADDRESS)}:\d+ - - \[.*\] "GET /api/v1/reports/{created.json()["id"]}"', log, re.M
    )
