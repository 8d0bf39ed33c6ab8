"""Periodic jobs of the notifications app, registered in reportsite/cron.py."""


def purge_sms_sends() -> int:
    """Periodic: the SMS ledger of the SMS limits, past EVENT_RETENTION_DAYS."""
    from notifications.messages.sms_limits import sms_sends_purge  # imported when run: workers load it then

    return sms_sends_purge()
