"""WebSocket routes (SPEC §6)."""

from django.urls import path

from reports.consumers import ReportConsumer, UserReportsConsumer

websocket_urlpatterns = [
    path("ws/reports/", UserReportsConsumer.as_asgi()),
    path("ws/reports/<str:report_id>/", ReportConsumer.as_asgi()),
]
