"""Static files come from an async-capable WhiteNoise (reportsite/static_files.py), so that under ASGI the whole
middleware chain stays on the event loop: an async view that waits holds no thread, and no request pays a hop to a
thread and back for the middleware alone."""

import pytest
from asgiref.sync import async_to_sync
from django.conf import settings
from django.test import AsyncClient, Client
from django.utils.module_loading import import_string

pytestmark = pytest.mark.django_db


def test_every_middleware_can_run_in_an_async_chain():
    sync_only = [path for path in settings.MIDDLEWARE if not getattr(import_string(path), "async_capable", False)]

    assert sync_only == []


def _body(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_under_asgi_static_files_are_served_and_other_requests_go_on():
    async def scenario():
        client = AsyncClient()
        script = await client.get("/static/reports/live.js")
        return script, await client.get("/api/v1/me")

    script, api = async_to_sync(scenario)()

    assert script.status_code == 200 and "javascript" in script["Content-Type"]
    assert b"lastEventId" in _body(script)
    assert api.status_code == 401


def test_under_wsgi_too():
    client = Client()

    script = client.get("/static/reports/live.js")

    assert script.status_code == 200 and b"lastEventId" in _body(script)
    assert client.get("/api/v1/me").status_code == 401
