"""WebSocket handshake security: token authentication for non-browser clients, and an Origin check that compares
whole origins (scheme, host and port) and lets clients without an Origin header (servers, CLIs) through to
authenticate by token (SPEC §6)."""

from typing import Any
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.http.request import split_domain_port, validate_host
from rest_framework.authtoken.models import Token


def token_user(key: str):
    """The active user whose API token this is, else AnonymousUser: for the WebSocket, the event stream and GraphQL
    alike (one query)."""
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


user_for_token = database_sync_to_async(token_user)


def token_from_header(value: str) -> str | None:
    """The key of an `Authorization: Token <key>` value, else None."""
    scheme, _, key = value.partition(" ")
    if scheme.lower() != "token":
        return None
    return key.strip() or None


class TokenAuthMiddleware:
    """`Authorization: Token <key>` at the handshake sets the user; without the header, the session decides."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive, send):
        key = token_from_header(dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin1"))
        if key:
            scope = {**scope, "user": await user_for_token(key)}
        return await self.app(scope, receive, send)


DEFAULT_PORTS = {"http": 80, "https": 443}


def normalized_origin(value: str) -> str | None:
    """`scheme://host:port`, lower-case and with the default port written out, so that origins compare whole; None
    for what is no http(s) origin (`null`, a path, credentials)."""
    try:
        parts = urlsplit(value.strip().lower())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{parts.scheme}://{host}:{port or DEFAULT_PORTS[parts.scheme]}"


def _header(scope: dict[str, Any], name: bytes) -> str | None:
    values = [value for key, value in scope.get("headers", []) if key == name]
    return values[0].decode("latin1") if len(values) == 1 else None


def _is_secure(scope: dict[str, Any]) -> bool:
    """As Django's request.is_secure(): the server's own TLS, or the proxy header Django is told to trust."""
    if scope.get("scheme") in ("wss", "https"):
        return True
    if settings.SECURE_PROXY_SSL_HEADER:
        meta_name, secure_value = settings.SECURE_PROXY_SSL_HEADER
        value = _header(scope, meta_name.removeprefix("HTTP_").lower().replace("_", "-").encode("latin1"))
        return value is not None and value.split(",", 1)[0].strip() == secure_value
    return False


def served_origin(scope: dict[str, Any]) -> str | None:
    """The origin this socket is served at: its scheme and Host, if the Host is one of ALLOWED_HOSTS (a name of
    someone else's pointed at us, as in DNS rebinding, is not our origin)."""
    host = _header(scope, b"host") or ""
    domain, _ = split_domain_port(host)
    allowed_hosts = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed_hosts:
        allowed_hosts = [".localhost", "127.0.0.1", "[::1]"]  # as Django's HttpRequest.get_host()
    if not domain or not validate_host(domain, allowed_hosts):
        return None
    return normalized_origin(f"{'https' if _is_secure(scope) else 'http'}://{host}")


def origin_allowed(scope: dict[str, Any]) -> bool:
    """No Origin header: not a browser, so no victim's cookie rides along; such a client brings a token. A browser's
    Origin, scheme, host and port, must be the origin the socket is served at or one of WS_ALLOWED_ORIGINS: this
    stops cross-site WebSocket hijacking with the session cookie."""
    origins = [value for key, value in scope.get("headers", []) if key == b"origin"]
    if not origins:
        return True
    origin = normalized_origin(origins[0].decode("latin1")) if len(origins) == 1 else None
    if origin is None:
        return False
    return origin == served_origin(scope) or origin in {normalized_origin(o) for o in settings.WS_ALLOWED_ORIGINS}


class BrowserOriginValidator:
    """Refuses the handshake (daphne answers 403) when origin_allowed() says no; settings are read per connection."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive, send):
        if origin_allowed(scope):
            return await self.app(scope, receive, send)
        return await WebsocketDenier()(scope, receive, send)


def origin_validator(app) -> BrowserOriginValidator:
    return BrowserOriginValidator(app)
