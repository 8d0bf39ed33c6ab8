"""WSGI entry point: plain HTTP under gunicorn in the split layout (docs/deployment.md, "HTTP on gunicorn"), behind a
proxy that sends the WebSocket, the event stream and long polls to daphne (reportsite/asgi.py).

`application` is Django's WSGI application. `application_behind_proxy` is the same, taking the client's address and
scheme from the proxy's `X-Forwarded-For` and `X-Forwarded-Proto`, as `daphne --proxy-headers` does: the login
throttle and the password reset rate count per REMOTE_ADDR, and without this every client would have the proxy's.
Serve it only behind a proxy that overwrites both headers, or clients choose their own address. A long poll that
reaches it anyway is answered at once, as a poll (REPORT_LONG_POLL).
"""

import os
from collections.abc import Callable, Iterable
from typing import Any

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reportsite.settings")
# A WSGI server holds a thread for as long as a request lasts: long polls are daphne's (the proxy sends them there),
# and the report's own view runs here without the async wrapper that would wait (reports/api/long_poll.py).
os.environ["REPORT_LONG_POLL"] = "0"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class ProxyHeaders:
    """REMOTE_ADDR from the first address of `X-Forwarded-For` and `wsgi.url_scheme` from `X-Forwarded-Proto`, as
    daphne reads them; the server's own values are kept when a header is missing."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        forwarded_for = environ.get("HTTP_X_FORWARDED_FOR", "").split(",", 1)[0].strip()
        if forwarded_for:
            environ["REMOTE_ADDR"] = forwarded_for
            environ.pop("REMOTE_PORT", None)  # the proxy's port, not the client's
        forwarded_proto = environ.get("HTTP_X_FORWARDED_PROTO", "").strip().lower()
        if forwarded_proto in ("http", "https"):
            environ["wsgi.url_scheme"] = forwarded_proto
        return self.app(environ, start_response)


application = get_wsgi_application()
application_behind_proxy = ProxyHeaders(application)
