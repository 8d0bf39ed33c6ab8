"""Where a webhook may be sent (SPEC §7.5): http or https only, and never to an internal address unless
WEBHOOK_ALLOWED_NETWORKS says so. The host is resolved once, here, and the connection is made to the address that
was checked, so a DNS answer that changes between the check and the connection (rebinding) gets nowhere."""

import ipaddress
import socket
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import urlsplit

from django.conf import settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
DEFAULT_PORTS = {"http": 80, "https": 443}


class UnsafeDestination(ValueError):
    """The URL may not receive webhooks; the message says why, for the person who registered it."""


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


def _refusal(address: IPAddress) -> str | None:
    """Why this address may not be reached, or None if it may."""
    if any(address in network for network in allowed_networks()):
        return None
    mapped = getattr(address, "ipv4_mapped", None)
    checked = mapped or address
    for label, flag in (
        ("loopback", checked.is_loopback),
        ("link-local", checked.is_link_local),
        ("private", checked.is_private),
        ("multicast", checked.is_multicast),
        ("reserved", checked.is_reserved or checked.is_unspecified),
    ):
        if flag:
            return label
    if not checked.is_global:
        return "non-public"
    return None


def resolve_destination(url: str) -> Destination:
    """Check the URL and resolve its host once; raise UnsafeDestination with a readable reason."""
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
    port = port or DEFAULT_PORTS[scheme]
    try:
        literal = ipaddress.ip_address(parts.hostname)
        addresses: list[IPAddress] = [literal]
    except ValueError:
        try:
            infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as error:
            raise UnsafeDestination(f"The host {parts.hostname!r} could not be resolved.") from error
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    if not addresses:
        raise UnsafeDestination(f"The host {parts.hostname!r} has no address.")
    for address in addresses:
        reason = _refusal(address)
        if reason:
            raise UnsafeDestination(f"{parts.hostname} resolves to {address}, a {reason} address.")
    return Destination(url=url, scheme=scheme, host=parts.hostname, port=port, address=addresses[0])
