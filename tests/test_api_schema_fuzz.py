"""The API against its own OpenAPI document (/api/v1/schema), with requests that schemathesis generates from it:
valid ones and deliberately invalid ones, authenticated with a token. No answer is a 5xx, and every answer (status,
content type, headers, body) is one the document describes. Bounded: a fixed number of examples per operation,
derandomized, so a run takes the same time and finds the same things every time."""

import ipaddress
import socket

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from rest_framework.authtoken.models import Token
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.testapp.report_types import TEST_PERMISSION

EXAMPLES_PER_OPERATION = 100
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return host == "localhost"


def _loopback_connect(sock: socket.socket, address) -> None:
    if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise ConnectionRefusedError(f"this test talks to loopback only, not {address[0]}")
    _real_connect(sock, address)


def _no_dns(host, *args, **kwargs):
    if host is None or _is_loopback(str(host)):
        return _real_getaddrinfo(host, *args, **kwargs)
    raise socket.gaierror(socket.EAI_NONAME, "no name resolution in this test")


@pytest.fixture
def loopback_only(monkeypatch):
    """Webhook URLs are generated at random: resolve none of them, and connect nowhere but to this machine."""
    monkeypatch.setattr(socket.socket, "connect", _loopback_connect)
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns)


@pytest.fixture
def wsgi_on_test_connection(db):
    """Keep the WSGI application from closing the test's database connection at the end of each request, as
    Django's test client does."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def no_internal_webhooks(settings):
    settings.WEBHOOK_ALLOWED_NETWORKS = []


@pytest.fixture
def token(make_user) -> str:
    user = make_user("fuzz", perms=("auth.view_user", "reports.view_report", TEST_PERMISSION))
    return Token.objects.create(user=user).key


# Loaded at collection, through the application: the document under test is the one /api/v1/schema serves.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema", get_wsgi_application())


@pytest.mark.usefixtures("wsgi_on_test_connection", "loopback_only", "no_internal_webhooks")
# The event stream stays open by design; tests/test_resumable_streams.py drives it through daphne.
@schema.exclude(path="/api/v1/events/stream").parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    deadline=None,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_as_its_schema_says(case, token):
    # A long poll waits on the channel layer in an async view, which this in-process WSGI harness cannot host (its
    # database access closes the test's connection); tests/test_operations.py drives it through daphne.
    if case.headers:
        case.headers.pop("Prefer", None)
    case.call_and_validate(headers={"Authorization": f"Token {token}"}, checks=CHECKS)
