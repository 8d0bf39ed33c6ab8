"""Who is asking, for the async views (they cannot use DRF's authentication, which is synchronous)."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from common.ws_auth import token_from_header, user_for_token


async def request_user(request: HttpRequest) -> AbstractBaseUser | None:
    """`Authorization: Token <key>` (integrators), else the session (the web UI); None when neither signs in."""
    key = token_from_header(request.headers.get("Authorization", ""))
    if key:
        user = await user_for_token(key)
    else:
        user = await request.auser()
    return None if isinstance(user, AnonymousUser) or not user.is_authenticated else user
