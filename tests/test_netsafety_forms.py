"""Network safety (SPEC §7.5, §19): IPv6 forms that embed or reach a refused IPv4 address are refused like it, and a
refusal tells the user general words while the server log keeps the address. No name is resolved by real DNS here
and nothing connects anywhere: the resolver answers from a table and every refusal happens before a connection."""

import ipaddress
import logging

import pytest

from common.netsafety import UnsafeDestination, resolve_destination
from events.models import DeliveryAttempt
from notifications.models import WebhookEndpoint
from notifications.webhooks.services import endpoint_create
from tests.fake_dns import install_fake_dns

pytestmark = pytest.mark.django_db

PUBLIC_V4 = "93.184.215.14"
NOT_PUBLIC = "The URL's host is not a public internet address."
NAME_NOT_PUBLIC = "The URL's host does not resolve to a public internet address."


def teredo(client: str, server: str = "65.54.227.120") -> str:
    """A Teredo address (RFC 4380) whose client, the address its packets end up at, is `client`."""
    obfuscated = int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF
    value = (0x20010000 << 96) | (int(ipaddress.IPv4Address(server)) << 64) | obfuscated
    return str(ipaddress.IPv6Address(value))


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch, settings) -> dict[str, list[str]]:
    """getaddrinfo answers names from a table (A and AAAA answers alike); address literals pass through."""
    settings.WEBHOOK_ALLOWED_NETWORKS = []
    table: dict[str, list[str]] = {"hooks.example.com": [PUBLIC_V4]}
    return install_fake_dns(monkeypatch, table)


# --- §19: IPv6 forms that embed or reach an IPv4 address -------------------------------------------------------------

EMBEDDING_FORMS = {
    "6to4 of the metadata service": "2002:a9fe:a9fe::1",
    "6to4 of loopback": "2002:7f00:1::",
    "6to4 of a private address": "2002:a00:5::1",
    "6to4 of a public address": "2002:808:808::1",
    "Teredo with a link-local client": teredo("169.254.169.254"),
    "Teredo with a loopback client": teredo("127.0.0.1"),
    "Teredo with a public client": teredo("8.8.8.8"),
    "site-local": "fec0::1",
    "NAT64 of the metadata service": "64:ff9b::a9fe:a9fe",
    "NAT64 of a public address": "64:ff9b::808:808",
    "local-use NAT64": "64:ff9b:1::a9fe:a9fe",
    "IPv4-compatible metadata service": "::a9fe:a9fe",
    "IPv4-mapped metadata service": "::ffff:a9fe:a9fe",
}


@pytest.mark.parametrize("address", EMBEDDING_FORMS.values(), ids=EMBEDDING_FORMS.keys())
def test_an_ipv6_literal_of_a_transition_form_is_refused(address):
    with pytest.raises(UnsafeDestination):
        resolve_destination(f"http://[{address}]/hooks")


def test_the_6to4_relay_anycast_range_is_refused():
    with pytest.raises(UnsafeDestination):
        resolve_destination("http://192.88.99.1/hooks")


@pytest.mark.parametrize("address", EMBEDDING_FORMS.values(), ids=EMBEDDING_FORMS.keys())
def test_a_name_with_an_aaaa_answer_of_a_transition_form_is_refused(fake_dns, address):
    # Given a name whose only answer is an address of the form
    fake_dns["six.example.com"] = [address]

    # When its URL is checked, then it is refused
    with pytest.raises(UnsafeDestination):
        resolve_destination("https://six.example.com/hooks")


def test_one_bad_answer_among_public_ones_refuses_the_name(fake_dns):
    fake_dns["mixed.example.com"] = [PUBLIC_V4, "2606:4700::1111", "2002:a9fe:a9fe::1"]

    with pytest.raises(UnsafeDestination):
        resolve_destination("https://mixed.example.com/hooks")


@pytest.mark.parametrize("address", ["8.8.8.8", "[2606:4700::1111]", "[::ffff:8.8.8.8]"])
def test_public_addresses_still_pass(address):
    destination = resolve_destination(f"https://{address}/hooks")

    assert destination.address == ipaddress.ip_address(address.strip("[]"))


def test_an_allowed_transition_range_still_refuses_the_refused_ipv4_inside_it(settings):
    # Given an operator who allows 6to4 (and nothing private)
    settings.WEBHOOK_ALLOWED_NETWORKS = ["2002::/16"]

    # Then a 6to4 address of a public IPv4 address passes, and one of the metadata service does not
    assert str(resolve_destination("http://[2002:808:808::1]/").address) == "2002:808:808::1"
    with pytest.raises(UnsafeDestination):
        resolve_destination("http://[2002:a9fe:a9fe::1]/")


def test_the_embedded_ipv4_address_is_allowed_only_with_its_wrapper(settings):
    # Given loopback allowed (as the test receivers need), a 6to4 form of it is still refused
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8"]
    with pytest.raises(UnsafeDestination):
        resolve_destination("http://[2002:7f00:1::]/")

    # And allowed once the operator allows the 6to4 range too
    settings.WEBHOOK_ALLOWED_NETWORKS = ["127.0.0.0/8", "2002::/16"]
    assert str(resolve_destination("http://[2002:7f00:1::]/").address) == "2002:7f00:1::"


def test_registration_over_the_api_refuses_a_name_with_a_6to4_answer(api, fake_dns):
    fake_dns["six.example.com"] = ["2002:a9fe:a9fe::1"]

    response = api.post("/api/v1/webhook-endpoints", {"url": "https://six.example.com/hooks"}, format="json")

    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["url"]
    assert not WebhookEndpoint.objects.exists()


# --- §19: no DNS oracle -------------------------------------------------------------------------------------------


def test_registration_refusal_names_no_address_and_the_log_does(api, fake_dns, caplog):
    # Given a name that resolves to a private address
    fake_dns["internal.example.com"] = ["10.0.0.5"]
    caplog.set_level(logging.INFO)

    # When Ada registers it
    response = api.post("/api/v1/webhook-endpoints", {"url": "https://internal.example.com/hooks"}, format="json")

    # Then the problem says why in general words, without the address the name resolved to
    assert response.status_code == 400
    assert response.json() == {
        "type": "urn:reportsite:problem:validation-error",
        "title": "Invalid request",
        "status": 400,
        "detail": "The request has invalid fields.",
        "errors": {"url": [NAME_NOT_PUBLIC]},
    }
    assert "10.0.0.5" not in response.content.decode()
    assert not WebhookEndpoint.objects.exists()
    # And the server log has the detail
    refusals = [record for record in caplog.records if record.name == "common.netsafety"]
    assert [record.levelno for record in refusals] == [logging.WARNING]
    message = refusals[0].getMessage()
    assert "internal.example.com" in message
    assert "10.0.0.5" in message
    assert "private" in message


def test_a_name_that_does_not_resolve_is_refused_in_the_same_words(api, fake_dns, caplog):
    # An internal name that exists and one that does not are told apart only in the server log
    caplog.set_level(logging.INFO)

    response = api.post("/api/v1/webhook-endpoints", {"url": "https://nowhere.example.com/"}, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"url": [NAME_NOT_PUBLIC]}
    assert any(
        "nowhere.example.com" in record.getMessage() for record in caplog.records if record.name == "common.netsafety"
    )


def test_a_callback_url_refusal_names_no_address(api, fake_dns):
    fake_dns["internal.example.com"] = ["10.0.0.5"]
    body = {"report_type": "user_access", "parameters": {}, "callback_url": "https://internal.example.com/cb"}

    response = api.post("/api/v1/reports", body, format="json")

    assert response.status_code == 400
    assert response.json()["errors"] == {"callback_url": [NAME_NOT_PUBLIC]}
    assert "10.0.0.5" not in response.content.decode()


def test_a_delivery_refused_at_send_time_records_no_address_and_logs_it(api, user, fake_dns, caplog):
    # Given an endpoint registered while its name was public, which now points at a private address
    endpoint = endpoint_create(owner=user, url="https://hooks.example.com/reports")
    fake_dns["hooks.example.com"] = ["10.0.0.5"]
    caplog.set_level(logging.INFO)

    # When Ada tests it
    response = api.post(f"/api/v1/webhook-endpoints/{endpoint.id}/test")

    # Then the attempt is refused before any connection; what she sees and what is recorded name no address
    assert response.status_code == 200
    assert response.json()["error"] == f"Refused: {NAME_NOT_PUBLIC}"
    assert DeliveryAttempt.objects.get().error == f"Refused: {NAME_NOT_PUBLIC}"
    assert "10.0.0.5" not in response.content.decode()
    # And the server log has it
    assert any(
        "hooks.example.com" in record.getMessage() and "10.0.0.5" in record.getMessage()
        for record in caplog.records
        if record.name == "common.netsafety" and record.levelno == logging.WARNING
    )
