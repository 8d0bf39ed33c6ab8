from django.urls import path

from schedules.api import views

app_name = "schedules_api"

urlpatterns = [
    path("schedules", views.ScheduleListCreateApi.as_view(), name="schedule-list"),
    path("schedules/next-runs", views.NextRunsApi.as_view(), name="schedule-next-runs"),
    path("schedules/<str:schedule_id>", views.ScheduleDetailApi.as_view(), name="schedule-detail"),
    path("schedules/<str:schedule_id>/run", views.ScheduleRunApi.as_view(), name="schedule-run"),
    path("schedules/<str:schedule_id>/runs", views.ScheduleRunsApi.as_view(), name="schedule-runs"),
]
