"""Who is asking. Over HTTP: `Authorization: Token <key>`, else the browser's session (GraphiQL). Over the
WebSocket: the session cookie or a token at the handshake (common/ws_auth.py), or `{"Authorization": "Token
<key>"}` in `connection_init`'s payload (SPEC §16)."""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest, HttpResponse
from strawberry.types import Info

from common.ws_auth import token_from_header, token_user
from graphapi.errors import unauthenticated


@dataclass
class GraphContext:
    """The context of one HTTP request, or of one WebSocket connection and all its operations."""

    user: AbstractBaseUser | AnonymousUser
    # The Django request over HTTP (absolute URLs are built from it); None over the WebSocket.
    request: HttpRequest | None = None
    response: HttpResponse | None = None
    # `connection_init`'s payload (the WebSocket protocol handler sets it).
    connection_params: dict[str, Any] = field(default_factory=dict)


def http_user(request: HttpRequest) -> AbstractBaseUser | AnonymousUser:
    """The token's user when a token is sent (a wrong one is not replaced by the session), else the session's."""
    key = token_from_header(request.headers.get("Authorization", ""))
    if key is not None:
        return token_user(key)
    return request.user


def uses_session(request: HttpRequest) -> bool:
    """True when the caller is known by the session cookie, so a write must carry the CSRF token."""
    return token_from_header(request.headers.get("Authorization", "")) is None and request.user.is_authenticated


def connection_token(params: dict[str, Any]) -> str | None:
    """The token of `connection_init`'s payload: `Authorization` (any case) as in an HTTP header."""
    for name, value in params.items():
        if isinstance(name, str) and name.lower() == "authorization" and isinstance(value, str):
            return token_from_header(value)
    return None


def current_user(info: Info) -> AbstractBaseUser:
    """The signed-in user, or an UNAUTHENTICATED error: every field but the schema's own needs one."""
    user = info.context.user
    if user is None or not user.is_authenticated:
        raise unauthenticated()
    return user
