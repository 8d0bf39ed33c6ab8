"""Routes of the staff web UI (SPEC §9)."""

from django.urls import path

from reports import views

app_name = "ui"

urlpatterns = [
    path("", views.report_list, name="report-list"),
    path("reports/new/", views.report_new, name="report-new"),
    path("reports/new/<str:key>/", views.report_new_of_type, name="report-new-of-type"),
    path("reports/<str:report_id>/", views.report_detail, name="report-detail"),
    path("reports/<str:report_id>/cancel/", views.report_cancel, name="report-cancel"),
]
