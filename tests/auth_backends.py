"""The suite's login throttling backend: django-axes' own, but for authenticate() calls without a request."""

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class AxesStandaloneBackendForTestClient(AxesStandaloneBackend):
    """Django's test Client.login() authenticates without a request, which axes refuses outright. A login page always
    brings one, and is throttled exactly as in production (tests/test_login_throttling.py)."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        return super().authenticate(request, *args, **kwargs)
