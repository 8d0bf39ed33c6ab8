from django.urls import path

from events.api import views

app_name = "events_api"

urlpatterns = [
    path("events", views.EventListApi.as_view(), name="event-list"),
    path("events/<str:event_id>", views.EventDetailApi.as_view(), name="event-detail"),
    path("event-types", views.EventTypeListApi.as_view(), name="event-type-list"),
]
