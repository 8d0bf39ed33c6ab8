"""Routes of the notifications pages of the staff web UI (SPEC §9)."""

from django.urls import path

from notifications import views

app_name = "notifications_ui"

urlpatterns = [
    path("preferences/", views.preferences, name="preferences"),
    path("preferences/phone/confirm/", views.phone_confirm, name="phone-confirm"),
    path("preferences/phone/resend/", views.phone_code_resend, name="phone-resend"),
]
