"""Input and output shapes of the webhooks API (SPEC §4, §7), and of notification preferences (§8). Secrets appear
only in the answers that make them."""

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from phonenumber_field.serializerfields import PhoneNumberField
from rest_framework import serializers

from common.api.serializers import StrictBooleanField, StrictInputSerializer
from events.models import Delivery, DeliveryAttempt, DeliveryStatus
from notifications.messages.selectors import phone_code_expires_at
from notifications.models import MAX_RATE_LIMIT, NotificationPreferences, RecoveryStatus, WebhookEndpoint

RATE_LIMIT_HELP = "At most this many deliveries a second are sent to it; null: no limit."
EVENT_TYPES_HELP = (
    "Event types to receive; empty: the terminal ones (report.succeeded, report.failed, report.cancelled)."
)


class EndpointCreateInputSerializer(StrictInputSerializer):
    # Not a URLField: the network-safety check gives the reason a URL is refused (scheme, address...).
    url = serializers.CharField(max_length=2000, help_text="http or https; must resolve to a public address.")
    description = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, default=list, help_text=EVENT_TYPES_HELP
    )
    enabled = serializers.BooleanField(required=False, default=True)
    rate_limit = serializers.IntegerField(
        required=False, allow_null=True, default=None, min_value=1, max_value=MAX_RATE_LIMIT, help_text=RATE_LIMIT_HELP
    )


class EndpointUpdateInputSerializer(StrictInputSerializer):
    url = serializers.CharField(max_length=2000, required=False)
    description = serializers.CharField(max_length=200, required=False, allow_blank=True)
    event_types = serializers.ListField(
        child=serializers.CharField(max_length=40), required=False, help_text=EVENT_TYPES_HELP
    )
    enabled = serializers.BooleanField(
        required=False, help_text="true sends again what was missed while disabled; false keeps what happens."
    )
    rate_limit = serializers.IntegerField(
        required=False, allow_null=True, min_value=1, max_value=MAX_RATE_LIMIT, help_text=RATE_LIMIT_HELP
    )


class EndpointLinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    deliveries = serializers.URLField()
    test = serializers.URLField()
    rotate_secret = serializers.URLField()
    recover = serializers.URLField()


def _absolute(context: dict[str, Any], name: str, **kwargs: str) -> str:
    return context["request"].build_absolute_uri(reverse(f"notifications_api:{name}", kwargs=kwargs))


class EndpointOutputSerializer(serializers.ModelSerializer):
    """An endpoint as reads and lists show it: never with its secret."""

    links = serializers.SerializerMethodField()

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "event_types",
            "enabled",
            "disabled_reason",
            "disabled_at",
            "consecutive_failures",
            "rate_limit",
            "created_at",
            "updated_at",
            "links",
        ]
        read_only_fields = fields

    @extend_schema_field(EndpointLinksSerializer)
    def get_links(self, endpoint: WebhookEndpoint) -> dict[str, str]:
        return {
            "self": _absolute(self.context, "endpoint-detail", endpoint_id=endpoint.id),
            "deliveries": _absolute(self.context, "delivery-list", endpoint_id=endpoint.id),
            "test": _absolute(self.context, "endpoint-test", endpoint_id=endpoint.id),
            "rotate_secret": _absolute(self.context, "endpoint-rotate-secret", endpoint_id=endpoint.id),
            "recover": _absolute(self.context, "endpoint-recover", endpoint_id=endpoint.id),
        }


class EndpointCreatedOutputSerializer(EndpointOutputSerializer):
    """The create answer: the only read of the secret besides a rotation."""

    secret = serializers.CharField(help_text="whsec_...: verify our signatures with it. Shown only now.")

    class Meta(EndpointOutputSerializer.Meta):
        fields = [*EndpointOutputSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class SecretRotationOutputSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="The new whsec_... secret. Shown only now.")
    previous_secret_expires_at = serializers.DateTimeField(
        help_text="Until then the previous secret signs too, beside the new one."
    )


class CallbackSecretOutputSerializer(serializers.Serializer):
    secret = serializers.CharField(help_text="whsec_...: signs the deliveries to your reports' callback_url.")


class AttemptOutputSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = ["number", "attempted_at", "status_code", "latency_ms", "error", "response_excerpt"]
        read_only_fields = fields


class DeliveryLinksSerializer(serializers.Serializer):
    redeliver = serializers.URLField()


class DeliveryOutputSerializer(serializers.ModelSerializer):
    """A delivery of one event to one endpoint (the context's `endpoint`), with its attempts."""

    event_id = serializers.CharField(read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    url = serializers.SerializerMethodField()
    payload = serializers.SerializerMethodField()
    attempts = AttemptOutputSerializer(many=True, read_only=True)
    next_attempt_at = serializers.SerializerMethodField()
    links = serializers.SerializerMethodField()

    class Meta:
        model = Delivery
        fields = [
            "id",
            "event_id",
            "event_type",
            "url",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "finished_at",
            "payload",
            "attempts",
            "links",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.URLField())
    def get_url(self, delivery: Delivery) -> str:
        return self.context["endpoint"].url

    @extend_schema_field(serializers.JSONField(help_text="The §5 envelope that is sent."))
    def get_payload(self, delivery: Delivery) -> dict[str, Any]:
        return delivery.event.envelope

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_next_attempt_at(self, delivery: Delivery) -> str | None:
        # Only a pending delivery has a next attempt; the column keeps stale values otherwise.
        if delivery.status != DeliveryStatus.PENDING or delivery.next_attempt_at is None:
            return None
        return serializers.DateTimeField().to_representation(delivery.next_attempt_at)

    @extend_schema_field(DeliveryLinksSerializer)
    def get_links(self, delivery: Delivery) -> dict[str, str]:
        return {
            "redeliver": _absolute(
                self.context, "delivery-redeliver", endpoint_id=delivery.target, delivery_id=delivery.id
            )
        }


class EndpointTestOutputSerializer(serializers.Serializer):
    """The outcome of the ping: the attempt just made, and the delivery it belongs to (retried if it failed)."""

    status = serializers.ChoiceField(choices=DeliveryStatus.choices)
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_blank=True)
    attempt = AttemptOutputSerializer()
    delivery = DeliveryOutputSerializer()


class SendExampleInputSerializer(StrictInputSerializer):
    event_type = serializers.CharField(max_length=64, help_text="A type of GET /api/v1/event-types.")


class ExampleSentOutputSerializer(serializers.Serializer):
    """The one POST of an example event: it is not retried, and it is not in your event log."""

    delivered = serializers.BooleanField(help_text="The endpoint answered with a 2xx.")
    status_code = serializers.IntegerField(allow_null=True)
    latency_ms = serializers.IntegerField()
    error = serializers.CharField(allow_blank=True)
    response_excerpt = serializers.CharField(allow_blank=True, help_text="The first KB of the answer.")
    event = serializers.JSONField(help_text="The envelope sent: the type's example, with an id and a time of its own.")


RECOVER_FAILED, RECOVER_ALL = "failed", "all"
# The choice of deliveries a recovery sends again, named once in the OpenAPI schema (ENUM_NAME_OVERRIDES).
RECOVER_CHOICES = [RECOVER_FAILED, RECOVER_ALL]


class RecoverInputSerializer(StrictInputSerializer):
    since = serializers.DateTimeField(help_text="ISO 8601: the deliveries of events since then are sent again.")
    status = serializers.ChoiceField(
        choices=RECOVER_CHOICES,
        required=False,
        default=RECOVER_FAILED,
        help_text="failed: only the deliveries that failed; all: every finished one, delivered or failed.",
    )


class RecoveryLinksSerializer(serializers.Serializer):
    self = serializers.URLField()
    endpoint = serializers.URLField()


class RecoveryOutputSerializer(serializers.Serializer):
    """A recovery as an operation to follow: its state, and how far its deliveries got."""

    id = serializers.CharField()
    endpoint = serializers.CharField(source="endpoint_id")
    since = serializers.DateTimeField()
    deliveries = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=RecoveryStatus.choices)
    total = serializers.SerializerMethodField()
    sent = serializers.SerializerMethodField()
    failed = serializers.SerializerMethodField()
    progress = serializers.SerializerMethodField()
    truncated = serializers.BooleanField(
        help_text="More deliveries matched than the most one recovery sends: the oldest were taken; recover again "
        "from the time of the last one for the rest."
    )
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    links = serializers.SerializerMethodField()

    @extend_schema_field(serializers.ChoiceField(choices=RECOVER_CHOICES))
    def get_deliveries(self, recovery) -> str:
        return RECOVER_FAILED if recovery.only_failed else RECOVER_ALL

    @extend_schema_field(serializers.IntegerField(help_text="Deliveries it sends again (0 until it starts)."))
    def get_total(self, recovery) -> int:
        return self.context["progress"].total

    @extend_schema_field(serializers.IntegerField(help_text="Of them, delivered."))
    def get_sent(self, recovery) -> int:
        return self.context["progress"].sent

    @extend_schema_field(serializers.IntegerField(help_text="Of them, failed (one attempt each; no retries)."))
    def get_failed(self, recovery) -> int:
        return self.context["progress"].failed

    @extend_schema_field(serializers.IntegerField(min_value=0, max_value=100, help_text="Percent done."))
    def get_progress(self, recovery) -> int:
        return self.context["progress"].percent

    @extend_schema_field(RecoveryLinksSerializer)
    def get_links(self, recovery) -> dict[str, str]:
        endpoint_id = recovery.endpoint_id
        return {
            "self": _absolute(self.context, "recovery-detail", endpoint_id=endpoint_id, recovery_id=recovery.id),
            "endpoint": _absolute(self.context, "endpoint-detail", endpoint_id=endpoint_id),
        }


INVALID_PHONE_NUMBER = "Enter a valid phone number in international format (e.g. +12125552368)."
CODE_FORMAT = "Enter the 6-digit code sent to your phone."


class PreferencesUpdateInputSerializer(StrictInputSerializer):
    """Only the fields given change. SMS need a phone number; a new one is texted a code to confirm it with."""

    email_on_success = StrictBooleanField(required=False)
    email_on_failure = StrictBooleanField(required=False)
    sms_on_success = StrictBooleanField(required=False)
    sms_on_failure = StrictBooleanField(required=False)
    phone_number = PhoneNumberField(
        required=False,
        allow_blank=True,
        max_length=32,
        error_messages={"invalid": INVALID_PHONE_NUMBER},
        help_text='Where SMS go once confirmed; stored as E.164 ("+14155552671"). A new number is texted a code. "" '
        "removes it (SMS must be off).",
    )


class PhoneCodeField(serializers.RegexField):
    """Six digits as a JSON string: a number would lose its leading zeros."""

    def __init__(self, **kwargs: Any) -> None:
        messages = dict.fromkeys(("invalid", "blank", "null", "max_length", "min_length"), CODE_FORMAT)
        super().__init__(r"^[0-9]{6}$", min_length=6, max_length=6, error_messages=messages, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PhoneConfirmInputSerializer(StrictInputSerializer):
    code = PhoneCodeField(help_text="The 6-digit code texted to the number.")


class PreferencesOutputSerializer(serializers.ModelSerializer):
    phone_number = serializers.SerializerMethodField()
    phone_confirmed = serializers.BooleanField(
        read_only=True, help_text="Whether SMS go to the number: its owner entered the code texted to it."
    )
    phone_code_expires_at = serializers.SerializerMethodField()
    email = serializers.SerializerMethodField()

    class Meta:
        model = NotificationPreferences
        fields = [
            "email_on_success",
            "email_on_failure",
            "sms_on_success",
            "sms_on_failure",
            "phone_number",
            "phone_confirmed",
            "phone_confirmed_at",
            "phone_code_expires_at",
            "email",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(help_text='E.164, or "" when none is set.'))
    def get_phone_number(self, preferences: NotificationPreferences) -> str:
        return str(preferences.phone_number) if preferences.phone_number else ""

    @extend_schema_field(
        serializers.DateTimeField(
            allow_null=True,
            help_text="When the code texted to the unconfirmed number stops working; null when none is waiting "
            "(ask for one with POST /api/v1/preferences/phone/resend).",
        )
    )
    def get_phone_code_expires_at(self, preferences: NotificationPreferences) -> str | None:
        expires_at = phone_code_expires_at(preferences=preferences)
        return serializers.DateTimeField().to_representation(expires_at) if expires_at else None

    @extend_schema_field(serializers.CharField(help_text="Where emails go: your account's address (may be empty)."))
    def get_email(self, preferences: NotificationPreferences) -> str:
        return preferences.user.email
