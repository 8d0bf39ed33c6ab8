from django.urls import path, re_path

from reports.api import views
from reports.api.problems import api_not_found

app_name = "api"

urlpatterns = [
    re_path(r"^reports/?$", views.ReportListCreateApi.as_view(), name="report-list"),
    re_path(r"^reports/(?P<report_id>[A-Za-z0-9_]{1,32})/?$", views.ReportDetailApi.as_view(), name="report-detail"),
    re_path(r"^reports/(?P<report_id>[A-Za-z0-9_]{1,32})/file/?$", views.ReportFileApi.as_view(), name="report-file"),
    re_path(
        r"^reports/(?P<report_id>[A-Za-z0-9_]{1,32})/cancel/?$", views.ReportCancelApi.as_view(), name="report-cancel"
    ),
    re_path(r"^me/?$", views.MeApi.as_view(), name="me"),
    re_path(r"^report-types/?$", views.ReportTypeListApi.as_view(), name="report-type-list"),
    re_path(
        r"^report-types/(?P<key>[a-z0-9_]{1,64})/?$", views.ReportTypeDetailApi.as_view(), name="report-type-detail"
    ),
]

# Anything else under /api/v1 answers a 404 problem, also when DEBUG would show Django's HTML page.
catch_all = [path("<path:rest>", api_not_found)]
