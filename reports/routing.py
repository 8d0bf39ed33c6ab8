"""WebSocket routes. The report event consumers of SPEC §6 are added here."""

websocket_urlpatterns: list = []
