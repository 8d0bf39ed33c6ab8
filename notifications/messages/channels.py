"""Email and SMS (SPEC §8) as channels of the delivery engine: who gets a message about an event, and sending it.

A finished report (succeeded or failed) goes to its requester by email and SMS as their preferences say, or as the
report's `notify` override says. An endpoint disabled for failing is told to its owner by email, whatever the
preferences. Retries follow NOTIFY_RETRY_SCHEDULE; a message that cannot be sent never fails the report, which is
final before its event is fanned out. An SMS goes only within the limits of sms_limits.py (SPEC §19); one refused
is kept as skipped, with the reason, and never attempted.
"""

from collections.abc import Iterable, Sequence

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMultiAlternatives

from common.mail import mask_address
from events.channels import DeliveryChannel, Outcome, SkipDelivery, Target
from events.models import Delivery, Event
from notifications.messages import composing, sms_limits
from notifications.messages.selectors import preferences_get
from notifications.messages.sms import SmsMessage, get_sms_backend
from notifications.models import NotificationPreferences
from notifications.webhooks.services import ENDPOINT_DISABLED_EVENT

EMAIL_CHANNEL = "email"
SMS_CHANNEL = "sms"
REPORT_OUTCOME_EVENTS = ("report.succeeded", "report.failed")
# A send holds its message this long; more than any backend's own network timeout.
SEND_LEASE_SECONDS = 60.0


def channel_wanted(
    channel: str, *, preferences: NotificationPreferences, notify: dict[str, bool], succeeded: bool
) -> bool:
    """The report's override when it names the channel (for success and failure alike), else the preference."""
    if channel in notify:
        return bool(notify[channel])
    return getattr(preferences, f"{channel}_on_{'success' if succeeded else 'failure'}")


def _report_outcome_wanted(event: Event, channel: str) -> NotificationPreferences | None:
    """The requester's preferences when they want this report's outcome on this channel, else None."""
    if event.type not in REPORT_OUTCOME_EVENTS or event.report_id is None:
        return None
    if event.report.requested_by_id != event.user_id:  # a report is only ever told to its requester
        return None
    preferences = preferences_get(user=event.user)
    wanted = channel_wanted(
        channel, preferences=preferences, notify=event.report.notify, succeeded=event.type == "report.succeeded"
    )
    return preferences if wanted else None


class _MessageChannel(DeliveryChannel):
    lease_seconds = SEND_LEASE_SECONDS

    def retry_schedule(self) -> Sequence[float]:
        return settings.NOTIFY_RETRY_SCHEDULE


class EmailChannel(_MessageChannel):
    name = EMAIL_CHANNEL

    def targets(self, event: Event) -> Iterable[Target]:
        if event.type == ENDPOINT_DISABLED_EVENT:
            return [Target(event.user.email)] if event.user.email else []
        if _report_outcome_wanted(event, EMAIL_CHANNEL) is None or not event.user.email:
            return []
        return [Target(event.user.email)]

    def prepare(self, delivery: Delivery) -> EmailMultiAlternatives:
        compose = composing.endpoint_disabled_email if delivery.event.type == ENDPOINT_DISABLED_EVENT else None
        compose = compose or composing.report_email
        return compose(event=delivery.event, recipient=delivery.target, delivery_id=delivery.id)

    def send(self, prepared: EmailMultiAlternatives) -> Outcome:
        prepared.send()
        return Outcome(True, receipt=prepared.extra_headers["Message-ID"])

    def mask(self, target: str) -> str:
        return mask_address(target)


class SmsChannel(_MessageChannel):
    name = SMS_CHANNEL

    def targets(self, event: Event) -> Iterable[Target]:
        # An unconfirmed number gets its delivery too: preparing it refuses it, and the log says why.
        preferences = _report_outcome_wanted(event, SMS_CHANNEL)
        if preferences is None or not preferences.phone_number:
            return []
        return [Target(str(preferences.phone_number))]

    def prepare(self, delivery: Delivery) -> SmsMessage:
        try:
            sms_limits.report_sms_reserve(delivery=delivery)
        except sms_limits.SmsRefused as refusal:
            # The engine keeps a skipped delivery's last error as it is: the reason is written first.
            Delivery.objects.filter(pk=delivery.pk, claimed_by=delivery.claimed_by).update(last_error=str(refusal))
            raise SkipDelivery(str(refusal)) from refusal
        return composing.report_sms(event=delivery.event, recipient=delivery.target)

    def send(self, prepared: SmsMessage) -> Outcome:
        return Outcome(True, receipt=get_sms_backend().send(prepared) or "")

    def failed(self, delivery: Delivery, outcome: Outcome, *, gave_up: bool) -> None:
        sms_limits.report_sms_release(delivery=delivery)

    def mask(self, target: str) -> str:
        return target[:3] + "•" * max(1, len(target) - 6) + target[-3:]


def email_unavailable(user: AbstractBaseUser) -> str | None:
    """Why `notify.email` cannot be asked for (reports/notify.py), or None."""
    return None if user.email else "Your account has no email address to send to."


def sms_unavailable(user: AbstractBaseUser) -> str | None:
    preferences = preferences_get(user=user)
    if not preferences.phone_number:
        return "Add a phone number to your notification preferences to receive SMS."
    if not preferences.phone_confirmed:
        return "Confirm your phone number in your notification preferences to receive SMS."
    return None
