"""Signed download links (SPEC §17): a URL that downloads one report's PDF with no other credentials, for a while.

A JWT (PyJWT, HS256) naming the report and its owner, with an audience and an expiry. The key is derived from
SECRET_KEY rather than being it, so a link's key is good for links only; rotating SECRET_KEY with the old key in
SECRET_KEY_FALLBACKS keeps the links already sent working until they expire. Decoding pins the algorithm: a token
that names another (`none`, or an RSA one to confuse a key) is refused, as is one for another audience or report.
"""

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
from django.conf import settings
from django.urls import reverse

from reports.errors import DownloadLinkRefused

ALGORITHM = "HS256"
AUDIENCE = "report-download"
_KEY_PURPOSE = b"reports.links.download"


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), _KEY_PURPOSE, hashlib.sha256).digest()


def _now() -> datetime:
    return datetime.now(UTC)


def download_token(report_id: str, owner_id: Any) -> str:
    """A token that downloads the file of the owner's report until REPORT_LINK_TTL_SECONDS from now."""
    claims = {
        "aud": AUDIENCE,
        "rid": report_id,
        "sub": str(owner_id),
        "exp": _now() + timedelta(seconds=settings.REPORT_LINK_TTL_SECONDS),
    }
    return jwt.encode(claims, _key(settings.SECRET_KEY), algorithm=ALGORITHM)


def download_path(report_id: str, owner_id: Any) -> str:
    """The path of a signed link that downloads the report's PDF: add the site (or the request's host) in front."""
    path = reverse("api:report-download", kwargs={"report_id": report_id})
    return f"{path}?{urlencode({'token': download_token(report_id, owner_id)})}"


def download_owner(token: str, report_id: str) -> str:
    """The id (as text) of the owner the token was made for, if it is a valid link to `report_id`; else
    DownloadLinkRefused."""
    for secret in [settings.SECRET_KEY, *settings.SECRET_KEY_FALLBACKS]:
        try:
            claims = jwt.decode(
                token,
                _key(secret),
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                options={"require": ["exp", "aud", "rid", "sub"]},
            )
        except jwt.InvalidSignatureError:
            continue  # perhaps made with a key from before a rotation
        except jwt.ExpiredSignatureError as error:
            raise DownloadLinkRefused("This link has expired; ask for a new one.") from error
        except jwt.InvalidTokenError as error:
            raise DownloadLinkRefused("This link is not valid.") from error
        if claims["rid"] != report_id:
            raise DownloadLinkRefused("This link is for another report.")
        return str(claims["sub"])
    raise DownloadLinkRefused("This link is not valid.")
