from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from django.views.defaults import page_not_found, server_error
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from common.api.problems import api_not_found, problem_response
from graphapi.views import graphql_view, schema_sdl
from reportsite.access import superuser_required
from reportsite.accounts import ThrottledPasswordResetView

urlpatterns = [
    path("", include("reports.urls")),
    path("", include("notifications.urls")),
    path("", include("schedules.urls")),
    path("accounts/password_reset/", ThrottledPasswordResetView.as_view(), name="password_reset"),
    path("accounts/", include("django.contrib.auth.urls")),
    path("admin/", admin.site.urls),
    path(
        "django-rq/",
        include((get_api_urlpatterns() + get_admin_urlpatterns(view_wrapper=superuser_required), "django_rq")),
    ),
    path("api/v1/", include("reports.api.urls")),
    path("api/v1/", include("notifications.api.urls")),
    path("api/v1/", include("events.api.urls")),
    path("api/v1/", include("schedules.api.urls")),
    path("graphql", graphql_view, name="graphql"),
    path("graphql/schema.graphql", schema_sdl, name="graphql-schema"),
    path("api/v1/schema", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    # Anything else under /api answers a 404 problem, also when DEBUG would show Django's HTML page.
    re_path(r"^api(?:/.*)?$", api_not_found),
]


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith("/api"):
        return api_not_found(request)
    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith("/api"):
        return problem_response(500, "server-error", "Internal server error", "Something went wrong on our side.")
    return server_error(request)
