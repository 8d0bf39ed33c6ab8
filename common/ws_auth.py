"""WebSocket handshake security: token authentication for non-browser clients, and an Origin check that lets
clients without an Origin header (servers, CLIs) through to authenticate by token (SPEC §6)."""

from typing import Any

from channels.db import database_sync_to_async
from channels.security.websocket import OriginValidator
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from rest_framework.authtoken.models import Token


@database_sync_to_async
def _user_for_token(key: str):
    token = Token.objects.select_related("user").filter(key=key).first()
    if token is None or not token.user.is_active:
        return AnonymousUser()
    return token.user


class TokenAuthMiddleware:
    """`Authorization: Token <key>` at the handshake sets the user; without the header, the session decides."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive, send):
        header = dict(scope.get("headers", [])).get(b"authorization", b"").decode("latin1")
        scheme, _, key = header.partition(" ")
        if scheme.lower() == "token" and key.strip():
            scope = {**scope, "user": await _user_for_token(key.strip())}
        return await self.app(scope, receive, send)


class BrowserOriginValidator(OriginValidator):
    """Browsers always send Origin, and theirs must be one of ALLOWED_HOSTS (this stops cross-site WebSocket
    hijacking with the session cookie). Clients that send none carry no cookie and must present a token."""

    def valid_origin(self, parsed_origin) -> bool:
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)


def origin_validator(app):
    allowed = ["*"] if settings.DEBUG and not settings.ALLOWED_HOSTS else settings.ALLOWED_HOSTS
    return BrowserOriginValidator(app, allowed)
