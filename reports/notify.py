"""The per-report `notify` override of SPEC §4 (`{"email": bool, "sms": bool}`, each key optional): which of the
channels that tell a person (email, SMS) to use for this report, whatever their preferences say.

The channels are not part of reports: each registers its key and a check of whether a user can receive it
(notifications/messages/channels.py), and the requests are checked against what is registered."""

from collections.abc import Callable
from typing import Any

from django.contrib.auth.models import AbstractBaseUser

from reports.parameters import ParameterError

# key -> a function that says why the user cannot receive on it, or None when they can.
_channels: dict[str, Callable[[AbstractBaseUser], str | None]] = {}


def register_notify_channel(key: str, unavailable_reason: Callable[[AbstractBaseUser], str | None]) -> None:
    _channels[key] = unavailable_reason


def notify_keys() -> list[str]:
    return sorted(_channels)


def notify_clean(*, user: AbstractBaseUser, notify: Any) -> dict[str, bool]:
    """The override as given, checked; raises ParameterError with messages keyed `notify.<key>`."""
    if notify is None:
        return {}
    keys = " or ".join(notify_keys()) or "nothing (no channel is installed)"
    if not isinstance(notify, dict):
        raise ParameterError({"notify": ['Must be an object like {"email": true, "sms": false}.']}, prefix="")
    errors: dict[str, list[str]] = {}
    for key, value in notify.items():
        if key not in _channels:
            errors[f"notify.{key}"] = [f"Unknown field; use {keys}."]
        elif not isinstance(value, bool):
            errors[f"notify.{key}"] = ["Must be true or false."]
    if not errors:
        for key, value in notify.items():
            reason = _channels[key](user) if value else None
            if reason:
                errors[f"notify.{key}"] = [reason]
                break
    if errors:
        raise ParameterError(errors, prefix="")
    return dict(notify)
