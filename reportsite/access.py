"""Who may use the pages that no model permission covers."""

from collections.abc import Callable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse


def superuser_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For django-rq's dashboard: it shows every user's jobs (arguments, results, tracebacks) and can delete, requeue
    and stop them, and no model permission says who may. Being staff is not enough; being a superuser is.
    Signed out: the login page; signed in without the right: 403."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        user = request.user
        if not user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "admin:login")
        if not (user.is_active and user.is_superuser):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return guarded
