from django.urls import path

from schedules import views

app_name = "schedules_ui"

urlpatterns = [
    path("schedules/", views.schedule_list, name="list"),
    path("schedules/new/", views.schedule_edit, name="new"),
    path("schedules/unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("schedules/<str:schedule_id>/", views.schedule_detail, name="detail"),
    path("schedules/<str:schedule_id>/edit/", views.schedule_edit, name="edit"),
    path("schedules/<str:schedule_id>/pause/", views.schedule_pause, name="pause"),
    path("schedules/<str:schedule_id>/run/", views.schedule_run, name="run"),
]
