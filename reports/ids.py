"""Opaque, unguessable public ids: a readable prefix and 120 bits of randomness in lowercase base 36."""

import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
_LENGTH = 24  # 36**24 is about 2**124


def new_id(prefix: str) -> str:
    return f"{prefix}_" + "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))


def new_report_id() -> str:
    return new_id("rep")
