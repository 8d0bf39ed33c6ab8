"""Sign-in and password reset under attack (SPEC §19): the 429 page of a locked login (django-axes calls
`login_locked_out`) and Django's reset form with a rate per address and per email."""

import hashlib
import math
from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.views import PasswordResetView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from common.rate_limits import rate_wait


def too_many_attempts(request: HttpRequest, *, message: str, retry_after: int) -> HttpResponse:
    """The 429 page of a throttled login or password reset: what happened and when to come back, nothing more."""
    minutes = max(1, math.ceil(retry_after / 60))
    context = {"message": message, "minutes": minutes}
    response = render(request, "registration/lockout.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response


def login_locked_out(request: HttpRequest, *args: Any) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the answer to any login of a locked user name or address (UI and admin alike)."""
    retry_after = int(get_cool_off(request).total_seconds())
    return too_many_attempts(request, message="Too many failed sign-ins.", retry_after=retry_after)


class ThrottledPasswordResetView(PasswordResetView):
    """Django's reset form, at most PASSWORD_RESET_RATE per client address and per email address: each request may
    mail someone, so unthrottled it mails a victim at will. The email is hashed in its counter's key."""

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        email = hashlib.sha256(form.cleaned_data["email"].strip().lower().encode()).hexdigest()
        for scope, ident in (
            ("password-reset-address", self.request.META.get("REMOTE_ADDR") or "unknown"),
            ("password-reset-email", email),
        ):
            wait = rate_wait(scope=scope, ident=ident, rate=settings.PASSWORD_RESET_RATE)
            if wait is not None:
                return too_many_attempts(self.request, message="Too many password reset requests.", retry_after=wait)
        return super().form_valid(form)
