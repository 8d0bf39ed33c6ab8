from django.urls import path

from reports.api import views
from reports.api.event_stream import event_stream
from reports.api.long_poll import long_pollable

app_name = "api"

urlpatterns = [
    path("reports", views.ReportListCreateApi.as_view(), name="report-list"),
    path("reports/<str:report_id>", long_pollable(views.ReportDetailApi.as_view()), name="report-detail"),
    path("reports/<str:report_id>/file", views.ReportFileApi.as_view(), name="report-file"),
    path("reports/<str:report_id>/download", views.ReportDownloadApi.as_view(), name="report-download"),
    path("reports/<str:report_id>/cancel", views.ReportCancelApi.as_view(), name="report-cancel"),
    path("reports/<str:report_id>/events", views.ReportEventsApi.as_view(), name="report-events"),
    # Before events/<id> (events/api/urls.py): "stream" is not an event id.
    path("events/stream", event_stream, name="event-stream"),
    path("me", views.MeApi.as_view(), name="me"),
    path("report-types", views.ReportTypeListApi.as_view(), name="report-type-list"),
    path("report-types/<str:key>", views.ReportTypeDetailApi.as_view(), name="report-type-detail"),
]
