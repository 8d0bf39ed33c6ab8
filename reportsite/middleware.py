"""Django's middleware, with the hooks that only read the request and write headers run on the event loop.

Under ASGI Django's chain is asynchronous, and a classic middleware (MiddlewareMixin) runs each of its hooks through
sync_to_async: a hop to a thread and back for every hook, twelve per request with this project's stack, six of them
after the view has answered. They cost every request its share of a core, and a long poll or a stream the time
between its answer and the client. The hooks below do no I/O (they read the request and its cookies, and set
headers or cookies on the response), so these subclasses call them directly; a hook that may reach the database
(saving a session that changed, storing messages that were read or added) still goes to a thread. Should a hook
reach the database after all, Django refuses it on the event loop (SynchronousOnlyOperation): it fails loudly rather
than blocking the loop. Under WSGI, nothing changes."""

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.csrf import CsrfViewMiddleware
from django.middleware.security import SecurityMiddleware


class OnTheEventLoop:
    """For a MiddlewareMixin subclass: in an async chain, its hooks run on the event loop unless `request_blocks` or
    `response_blocks` says that this time they may do I/O."""

    def request_blocks(self, request: HttpRequest) -> bool:
        return False

    def response_blocks(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return False

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = None
        if hasattr(self, "process_request"):
            if self.request_blocks(request):
                response = await sync_to_async(self.process_request, thread_sensitive=True)(request)
            else:
                response = self.process_request(request)
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            if self.response_blocks(request, response):
                response = await sync_to_async(self.process_response, thread_sensitive=True)(request, response)
            else:
                response = self.process_response(request, response)
        return response


class Security(OnTheEventLoop, SecurityMiddleware):
    """The HTTPS redirect and the security headers."""


class Common(OnTheEventLoop, CommonMiddleware):
    """Forbidden user agents, the www. and trailing-slash redirects (a URL resolve, in memory), Content-Length."""


class Sessions(OnTheEventLoop, SessionMiddleware):
    """Making the session store is lazy; saving a session that changed is a query."""

    def response_blocks(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        session = getattr(request, "session", None)
        return session is not None and (session.modified or settings.SESSION_SAVE_EVERY_REQUEST)


class Csrf(OnTheEventLoop, CsrfViewMiddleware):
    """The token lives in a cookie; in the session (CSRF_USE_SESSIONS), reading or setting it may be a query. Its
    view hook, which may read a form's body, stays on a thread."""

    def request_blocks(self, request: HttpRequest) -> bool:
        return settings.CSRF_USE_SESSIONS

    def response_blocks(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        return settings.CSRF_USE_SESSIONS


class Authentication(OnTheEventLoop, AuthenticationMiddleware):
    """Sets a lazy `request.user`: the session is read only when something asks for it."""


class Messages(OnTheEventLoop, MessageMiddleware):
    """Storing messages that were read or added may write the session; when none were, there is nothing to store."""

    def response_blocks(self, request: HttpRequest, response: HttpResponseBase) -> bool:
        storage = getattr(request, "_messages", None)
        return storage is not None and (storage.used or storage.added_new)


class FrameOptions(OnTheEventLoop, XFrameOptionsMiddleware):
    """The X-Frame-Options header."""
