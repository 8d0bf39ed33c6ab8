import hashlib
import math
from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.views import PasswordResetView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import include, path, re_path
from django.views.defaults import page_not_found, server_error
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common.api.problems import api_not_found, problem_response
from common.rate_limits import rate_wait
from reportsite.access import superuser_required


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


urlpatterns = [
    path("", include("reports.urls")),
    path("", include("notifications.urls")),
    path("accounts/password_reset/", ThrottledPasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path(
        "django-rq/",
        include((get_api_urlpatterns() + get_admin_urlpatterns(view_wrapper=superuser_required), "django_rq")),
    ),
    path("api/v1/", include("reports.api.urls")),
    path("api/v1/", include("notifications.api.urls")),
    path("api/v1/", include("events.api.urls")),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Anything else under /api answers a 404 problem, also when DEBUG would show Django's HTML page.
    re_path(r"^api(?:/.*)?$", api_not_found),
]


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api"):
        return api_not_found(request)
    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api"):
        return problem_response(500, "server-error", "Internal server error", "Something went wrong on our side.")
    return server_error(request)
