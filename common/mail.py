"""What every email of the site's delivery channels shares: its Message-ID, and how its address shows in a log."""

from email.utils import make_msgid
from urllib.parse import urlsplit

from django.conf import settings


def message_id(delivery_id: str) -> str:
    """Our own Message-ID, so the delivery log can name the email (and Django need not look up this host's name)."""
    return make_msgid(idstring=delivery_id, domain=urlsplit(settings.SITE_URL).hostname or "localhost")


def mask_address(address: str) -> str:
    """The first letter and the domain: enough to tell recipients apart in a log, not to read the address."""
    local, _, domain = address.partition("@")
    return f"{local[:1]}{'•' * max(1, len(local) - 1)}@{domain}"
