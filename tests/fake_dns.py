"""A resolver for the tests of network safety: `socket.getaddrinfo` answers the names of a table (A and AAAA alike)
and no other name, so no lookup leaves the machine and a name can point at a private address without anything ever
connecting there. Address literals (the receivers, Redis) pass through to the real resolver. A test may change the
table as it goes (DNS rebinding)."""

import ipaddress
import socket

Answers = dict[str, str | list[str]]


def _answer(address: str, port: int | None) -> tuple:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port or 0))


def install_fake_dns(monkeypatch, table: Answers) -> Answers:
    """Answer from `table` (name -> an address or a list of them) until the test ends; returns the table."""
    real_getaddrinfo = socket.getaddrinfo

    def getaddrinfo(host, port, *args, **kwargs):
        name = host.decode() if isinstance(host, bytes) else host
        try:
            ipaddress.ip_address(name)
        except (TypeError, ValueError):
            pass
        else:
            return real_getaddrinfo(host, port, *args, **kwargs)
        if name not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        addresses = table[name]
        return [_answer(address, port) for address in ([addresses] if isinstance(addresses, str) else addresses)]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table
