"""The WebSocket handshake's Origin check (SPEC §6): a browser's Origin must be a whole origin (scheme, host and port)
this site is served at or is configured to trust; clients that send none authenticate by token as before."""

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from rest_framework.authtoken.models import Token

from reportsite.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

# A refused origin never gets the socket: the handshake is closed before it is accepted (daphne answers 403).
REFUSED = (False, 1000)
ACCEPTED = (True, None)


def handshake(
    token: str, origin: str | None, *, host: str = "localhost:8000", scheme: str | None = None, **headers: str
) -> tuple[bool, int | None]:
    """Open /ws/reports/ as a client with the user's token would, and return what connect() answered."""
    sent = [(b"host", host.encode()), (b"authorization", f"Token {token}".encode())]
    if origin is not None:
        sent.append((b"origin", origin.encode()))
    sent += [(name.replace("_", "-").encode(), value.encode()) for name, value in headers.items()]

    async def scenario() -> tuple[bool, int | None]:
        communicator = WebsocketCommunicator(application, "/ws/reports/", headers=sent)
        if scheme is not None:
            communicator.scope["scheme"] = scheme  # read when the application starts, at the first send
        answer = await communicator.connect()
        if answer[0]:
            await communicator.disconnect()
        return answer

    return async_to_sync(scenario)()


@pytest.fixture
def token(user) -> str:
    return Token.objects.create(user=user).key


def test_the_configured_origin_is_accepted_and_the_same_host_with_another_port_or_scheme_refused(token, settings):
    # Given the default (SITE_URL's origin, http://localhost:8000 in the tests) and a socket served there
    assert handshake(token, "http://localhost:8000") == ACCEPTED
    assert handshake(token, "HTTP://LOCALHOST:8000") == ACCEPTED
    assert handshake(token, "http://localhost:9999") == REFUSED
    assert handshake(token, "http://localhost") == REFUSED
    assert handshake(token, "https://localhost:8000") == REFUSED
    assert handshake(token, "http://evil.example:8000") == REFUSED
    assert handshake(token, "null") == REFUSED  # a sandboxed page or a file: still a browser
    assert settings.WS_ALLOWED_ORIGINS == ["http://localhost:8000"]


def test_a_client_without_an_origin_authenticates_by_token_as_before(token):
    assert handshake(token, None) == ACCEPTED


def test_the_origin_the_socket_is_served_at_is_accepted_when_its_host_is_allowed(token, settings):
    # Given the site served on another port than SITE_URL's (make up with PORT=8001, a test server)
    settings.ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

    assert handshake(token, "http://127.0.0.1:8001", host="127.0.0.1:8001") == ACCEPTED
    assert handshake(token, "http://127.0.0.1:8002", host="127.0.0.1:8001") == REFUSED
    assert handshake(token, "https://127.0.0.1:8001", host="127.0.0.1:8001") == REFUSED
    # A name that is not one of ALLOWED_HOSTS is no origin of ours, even pointed at us (DNS rebinding)
    assert handshake(token, "http://rebound.example:8001", host="rebound.example:8001") == REFUSED


def test_behind_a_tls_proxy_the_served_origin_is_https(token, settings):
    # Given production: a proxy that terminates TLS and says so, as Django trusts it for requests
    settings.ALLOWED_HOSTS = ["reports.example.com"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

    proxied = {"host": "reports.example.com", "x_forwarded_proto": "https"}
    assert handshake(token, "https://reports.example.com", **proxied) == ACCEPTED
    assert handshake(token, "http://reports.example.com", **proxied) == REFUSED
    assert handshake(token, "https://reports.example.com", host="reports.example.com") == REFUSED
    # And a server that serves wss itself
    assert handshake(token, "https://reports.example.com", host="reports.example.com", scheme="wss") == ACCEPTED


def test_ws_allowed_origins_replaces_the_default(token, settings):
    settings.WS_ALLOWED_ORIGINS = ["https://app.example.com", "http://localhost:3000/"]
    # Sockets behind a name that is not one of ALLOWED_HOSTS: the list alone decides
    served = {"host": "backend.internal:8000"}

    assert handshake(token, "https://app.example.com", **served) == ACCEPTED
    assert handshake(token, "https://app.example.com:443", **served) == ACCEPTED
    assert handshake(token, "http://localhost:3000", **served) == ACCEPTED
    assert handshake(token, "http://localhost:8000", **served) == REFUSED
    assert handshake(token, "https://app.example.com:8443", **served) == REFUSED
    assert handshake(token, "http://backend.internal:8000", **served) == REFUSED
