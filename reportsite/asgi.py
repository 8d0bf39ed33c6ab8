"""ASGI entry point: HTTP goes to Django, WebSocket to the Channels routes (SPEC §6, §16)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "reportsite.settings")
django_asgi_app = get_asgi_application()  # set up Django before importing anything that touches models

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from common.ws_auth import TokenAuthMiddleware, origin_validator  # noqa: E402
from graphapi.consumers import graphql_consumer  # noqa: E402
from reports.routing import websocket_urlpatterns  # noqa: E402

# /graphql beside /ws/: the same path serves GraphQL over HTTP (Django) and the WebSocket (graphql-transport-ws).
websocket_routes = [*websocket_urlpatterns, path("graphql", graphql_consumer())]

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": origin_validator(AuthMiddlewareStack(TokenAuthMiddleware(URLRouter(websocket_routes)))),
    }
)
