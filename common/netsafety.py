"""Where a webhook may be sent (SPEC §7.5): http or https only, and never to an internal address unless
WEBHOOK_ALLOWED_NETWORKS says so. The host is resolved once, here, and the connection is made to the address that
was checked, so a DNS answer that changes between the check and the connection (rebinding) gets nowhere."""

import ipaddress
import logging
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings

logger = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}
# What the user is told of a refused host: why in general words, never the address (SPEC §19).
NOT_PUBLIC = "The URL's host is not a public internet address."
NAME_NOT_PUBLIC = "The URL's host does not resolve to a public internet address."


class UnsafeDestination(ValueError):
    """The URL may not receive webhooks; the message says why, for the person who registered it, in general words."""


@dataclass(frozen=True)
class Destination:
    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress

    @property
    def host_header(self) -> str:
        default = DEFAULT_PORTS[self.scheme] == self.port
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if default else f"{host}:{self.port}"

    @property
    def pinned_url(self) -> str:
        """The URL with its host replaced by the checked address: what the connection is actually made to."""
        parts = urlsplit(self.url)
        address = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        path = parts.path or "/"
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.scheme}://{address}:{self.port}{path}{query}"


@lru_cache(maxsize=8)
def _networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item.strip(), strict=False) for item in spec.split(",") if item.strip())


def allowed_networks() -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return _networks(",".join(settings.WEBHOOK_ALLOWED_NETWORKS))


NAT64 = ipaddress.ip_network("64:ff9b::/96")
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
# Transition and deprecated ranges, refused whatever they embed (unless allowed): a packet to one goes to a relay or
# a translator, whose reach is not ours to judge, and an old Python may call some of them global.
TRANSITION_NETWORKS = (
    ("6to4", ipaddress.ip_network("2002::/16")),
    ("Teredo", ipaddress.ip_network("2001::/32")),
    ("NAT64", NAT64),
    ("local-use NAT64", ipaddress.ip_network("64:ff9b:1::/48")),
    ("IPv4-compatible", IPV4_COMPATIBLE),
    ("site-local", ipaddress.ip_network("fec0::/10")),
    ("6to4 relay anycast", ipaddress.ip_network("192.88.99.0/24")),
)


def _embedded_ipv4(address: IPAddress) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4 address that an IPv6 address of a transition form leads to, and the form's name."""
    if isinstance(address, ipaddress.IPv4Address):
        return None
    if address.ipv4_mapped:
        return "IPv4-mapped", address.ipv4_mapped
    if address.sixtofour:
        return "6to4", address.sixtofour
    if address.teredo:
        return "Teredo", address.teredo[1]  # the client: where the relay delivers
    last_32_bits = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address in NAT64:
        return "NAT64", last_32_bits
    if address in IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are judged as themselves
        return "IPv4-compatible", last_32_bits
    return None


def _refusal(address: IPAddress) -> str | None:
    """Why this address may not be reached, for the server log, or None if it may. An embedded IPv4 address is
    checked like a plain one first, so allowing a transition range never lets through what it wraps."""
    embedded = _embedded_ipv4(address)
    if embedded:
        form, ipv4 = embedded
        reason = _refusal(ipv4)
        if reason:
            return f"the {form} form of {ipv4}, {reason}"
        if form == "IPv4-mapped":  # the socket connects over IPv4 to that address itself
            return None
    if any(address in network for network in allowed_networks()):
        return None
    for label, network in TRANSITION_NETWORKS:
        if address.version == network.version and address in network:
            return f"a {label} address"
    for label, flag in (
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved or address.is_unspecified),
    ):
        if flag:
            return f"a {label} address"
    if not address.is_global:
        return "a non-public address"
    return None


def resolve_destination(url: str) -> Destination:
    """Check the URL and resolve its host once; raise UnsafeDestination with a reason for the user.

    The reason never names the address a name resolved to, nor tells an unknown name from an internal one: the
    check must not become a way to map our network's DNS. The server log has the detail."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeDestination(f"Not a valid URL: {error}.") from error
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UnsafeDestination("Only http and https URLs may receive webhooks.")
    if not parts.hostname:
        raise UnsafeDestination("The URL has no host.")
    if parts.username or parts.password:
        raise UnsafeDestination("Credentials in the URL are not allowed; use the signature to authenticate us.")
    host = parts.hostname
    port = port or DEFAULT_PORTS[scheme]
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        addresses = _resolve(host, port)
    else:
        reason = _refusal(literal)
        if reason:
            logger.warning("Webhook destination refused: %s is %s", literal, reason)
            raise UnsafeDestination(NOT_PUBLIC)
        return Destination(url=url, scheme=scheme, host=host, port=port, address=literal)
    for address in addresses:
        reason = _refusal(address)
        if reason:
            logger.warning("Webhook destination refused: %r resolves to %s, %s", host, address, reason)
            raise UnsafeDestination(NAME_NOT_PUBLIC)
    return Destination(url=url, scheme=scheme, host=host, port=port, address=addresses[0])


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        logger.info("Webhook destination refused: %r could not be resolved (%s)", host, error)
        raise UnsafeDestination(NAME_NOT_PUBLIC) from error
    addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if not addresses:
        logger.info("Webhook destination refused: %r has no address", host)
        raise UnsafeDestination(NAME_NOT_PUBLIC)
    return addresses
