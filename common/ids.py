"""Opaque, unguessable public ids: a readable prefix and 120 bits of randomness in lowercase base 36."""

import re
import secrets
import string

_ALPHABET = string.ascii_lowercase + string.digits
_LENGTH = 24  # 36**24 is about 2**124
_SPACE = 36**_LENGTH


def new_id(prefix: str) -> str:
    # One draw from the OS's generator rather than one per character: ids are made on every request and event.
    number = secrets.randbelow(_SPACE)
    digits = []
    for _ in range(_LENGTH):
        number, digit = divmod(number, 36)
        digits.append(_ALPHABET[digit])
    return f"{prefix}_" + "".join(digits)


def new_report_id() -> str:
    return new_id("rep")


_ID_SHAPE = re.compile(r"[a-z]{1,8}_[a-z0-9]{1,64}")


def looks_like_id(value: object) -> bool:
    """Whether `value` could be one of our ids. Anything else cannot match a row, and some of it (a NUL, which a URL
    can carry as %00) makes PostgreSQL fail the query instead: such values are not looked up at all."""
    return isinstance(value, str) and _ID_SHAPE.fullmatch(value) is not None
