"""Django's deploy checks, seeing this project's middleware for what it is.

Django finds its security, clickjacking and CSRF middleware by dotted path, so it would miss the subclasses of
reportsite/middleware.py: it would warn that they are missing (security.W001-W003, silenced in settings) and, worse,
skip the checks of the settings they apply (HSTS, the HTTPS redirect, nosniff, the referrer and opener policies,
DENY framing, a secure CSRF cookie). This check runs those checks of Django's with each subclass named as the class
it extends; a middleware really missing is still reported, as reportsite.W001-W003."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, register
from django.core.checks.security import base, csrf
from django.test.utils import override_settings
from django.utils.module_loading import import_string

from reportsite import middleware

# The middleware Django's checks look for, by dotted path.
CHECKED_MIDDLEWARE = ("SecurityMiddleware", "XFrameOptionsMiddleware", "CsrfViewMiddleware")

# Django's checks that depend on finding that middleware.
MIDDLEWARE_CHECKS = (
    base.check_security_middleware,
    base.check_xframe_options_middleware,
    base.check_sts,
    base.check_sts_include_subdomains,
    base.check_sts_preload,
    base.check_content_type_nosniff,
    base.check_ssl_redirect,
    base.check_xframe_deny,
    base.check_referrer_policy,
    base.check_cross_origin_opener_policy,
    csrf.check_csrf_middleware,
    csrf.check_csrf_cookie_secure,
)

# Silenced in settings, where the subclasses would trip them: reported under this project's ids instead.
RENAMED = {"security.W001": "reportsite.W001", "security.W002": "reportsite.W002", "security.W003": "reportsite.W003"}


def _as_django_names(path: str) -> str:
    """The dotted path of the Django middleware that `path`'s class extends, if it is one Django's checks look for."""
    if not path.startswith(f"{middleware.__name__}."):
        return path
    for parent in import_string(path).__mro__:
        if parent.__name__ in CHECKED_MIDDLEWARE:
            return f"{parent.__module__}.{parent.__name__}"
    return path


@register(Tags.security, deploy=True)
def check_middleware_settings(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    messages = []
    with override_settings(MIDDLEWARE=[_as_django_names(path) for path in settings.MIDDLEWARE]):
        for check in MIDDLEWARE_CHECKS:
            for message in check(app_configs):
                message.id = RENAMED.get(message.id, message.id)
                messages.append(message)
    return messages
