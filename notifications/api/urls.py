from django.urls import path

from notifications.api import views

app_name = "notifications_api"

ENDPOINT = "webhook-endpoints/<str:endpoint_id>"

urlpatterns = [
    path("webhook-endpoints", views.EndpointListCreateApi.as_view(), name="endpoint-list"),
    path(ENDPOINT, views.EndpointDetailApi.as_view(), name="endpoint-detail"),
    path(f"{ENDPOINT}/rotate-secret", views.EndpointRotateSecretApi.as_view(), name="endpoint-rotate-secret"),
    path(f"{ENDPOINT}/test", views.EndpointTestApi.as_view(), name="endpoint-test"),
    path(f"{ENDPOINT}/send-example", views.EndpointSendExampleApi.as_view(), name="endpoint-send-example"),
    path(f"{ENDPOINT}/recover", views.EndpointRecoverApi.as_view(), name="endpoint-recover"),
    path(f"{ENDPOINT}/recoveries/<str:recovery_id>", views.RecoveryDetailApi.as_view(), name="recovery-detail"),
    path(f"{ENDPOINT}/deliveries", views.DeliveryListApi.as_view(), name="delivery-list"),
    path(
        f"{ENDPOINT}/deliveries/<str:delivery_id>/redeliver",
        views.DeliveryRedeliverApi.as_view(),
        name="delivery-redeliver",
    ),
    path("callback-secret", views.CallbackSecretApi.as_view(), name="callback-secret"),
    path("callback-secret/rotate", views.CallbackSecretRotateApi.as_view(), name="callback-secret-rotate"),
    path("preferences", views.PreferencesApi.as_view(), name="preferences"),
    path("preferences/phone/confirm", views.PhoneConfirmApi.as_view(), name="preferences-phone-confirm"),
    path("preferences/phone/resend", views.PhoneCodeResendApi.as_view(), name="preferences-phone-resend"),
]
