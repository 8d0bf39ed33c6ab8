"""Routes of the notifications pages of the staff web UI (SPEC §9): preferences, webhooks and the callback secret."""

from django.urls import path

from notifications import views, webhook_views

app_name = "notifications_ui"

ENDPOINT = "webhooks/<str:endpoint_id>"

urlpatterns = [
    path("preferences/", views.preferences, name="preferences"),
    path("preferences/phone/confirm/", views.phone_confirm, name="phone-confirm"),
    path("preferences/phone/resend/", views.phone_code_resend, name="phone-resend"),
    path("webhooks/", webhook_views.endpoint_list, name="webhook-list"),
    path("webhooks/new/", webhook_views.endpoint_edit, name="webhook-new"),
    path("webhooks/callback-secret/", webhook_views.callback_secret, name="callback-secret"),
    path("webhooks/event-types/", webhook_views.event_catalog, name="event-catalog"),
    path("webhooks/event-types/send/", webhook_views.event_example_send, name="event-example-send"),
    path(f"{ENDPOINT}/", webhook_views.endpoint_detail, name="webhook-detail"),
    path(f"{ENDPOINT}/edit/", webhook_views.endpoint_edit, name="webhook-edit"),
    path(f"{ENDPOINT}/deliveries/", webhook_views.endpoint_deliveries, name="webhook-deliveries"),
    path(f"{ENDPOINT}/deliveries/<str:delivery_id>/", webhook_views.delivery_detail, name="webhook-delivery"),
    path(
        f"{ENDPOINT}/deliveries/<str:delivery_id>/send-again/",
        webhook_views.delivery_send_again,
        name="webhook-delivery-send-again",
    ),
    path(f"{ENDPOINT}/toggle/", webhook_views.endpoint_toggle, name="webhook-toggle"),
    path(f"{ENDPOINT}/delete/", webhook_views.endpoint_delete, name="webhook-delete"),
    path(f"{ENDPOINT}/test/", webhook_views.endpoint_test, name="webhook-test"),
    path(f"{ENDPOINT}/rotate-secret/", webhook_views.endpoint_rotate_secret, name="webhook-rotate-secret"),
    path(f"{ENDPOINT}/recover/", webhook_views.endpoint_recover, name="webhook-recover"),
]
