"""The web UI is for staff (SPEC §9, §19): integrators and other users have the API."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed out: to the login page, as before. Signed in without `is_staff`: 403, whatever the page."""

    @login_required
    @wraps(view)
    def staff_only(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not request.user.is_staff:
            raise PermissionDenied("The web UI is for staff; use the API.")
        return view(request, *args, **kwargs)

    return staff_only
