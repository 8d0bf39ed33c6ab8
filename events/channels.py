"""The channels that carry events, and their registry.

A live channel is told of each event once, as it is fanned out (the WebSocket: a publish to the user's group).
A delivery channel names the targets an event goes to (`targets`), and sends one delivery (`send`); the delivery
engine (events/engine.py) does everything else the same way for all of them: the delivery rows, claims with a
lease, attempts and their log, retries on the channel's schedule, giving up with a reason. A new channel (Slack,
Teams) is one class and its settings, registered from its app's `ready()`.
"""

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from events.models import Delivery, Event


@dataclass(frozen=True)
class Target:
    """Where one event goes on a channel. `skipped`: recorded but not sent while the target is off (a disabled
    endpoint); the channel's owner sets it back to pending when the target is on again."""

    target: str
    skipped: bool = False


@dataclass(frozen=True)
class Outcome:
    """The result of one attempt."""

    succeeded: bool
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""
    latency_ms: int | None = None
    # The target asked us to wait at least this many seconds (Retry-After on a 429 or 503).
    retry_after: float | None = None
    # Give up now, whatever the schedule says (the target said it is gone, or the message can never be sent).
    permanent: bool = False
    # The provider's name for what was sent (an email's Message-ID, an SMS id).
    receipt: str = ""


class SkipDelivery(Exception):
    """Raised by `prepare`: the target is off now. The delivery is kept as skipped instead of being attempted."""


class Channel(ABC):
    name: ClassVar[str]

    def mask(self, target: str) -> str:
        """How the target is shown in a timeline (SPEC §14): enough to recognise it, not enough to misuse it."""
        return target


class LiveChannel(Channel):
    """Publishes as the event is fanned out; channels that retry are DeliveryChannels instead."""

    @abstractmethod
    def publish(self, event: Event) -> None:
        """Hand the event to the clients listening now; must not block on the network."""


class DeliveryChannel(Channel):
    # How long a run holds a delivery while attempting it; longer than one `send` can take.
    lease_seconds: ClassVar[float] = 60.0

    @abstractmethod
    def targets(self, event: Event) -> Iterable[Target]:
        """Where this event goes on this channel; nowhere is an empty list."""

    def prepare(self, delivery: Delivery) -> Any:
        """On the delivery run's thread, which may use the database: everything `send` needs. Raises SkipDelivery
        when the target is off. The delivery comes with its event loaded."""
        return delivery

    @abstractmethod
    def send(self, prepared: Any) -> Outcome:
        """One attempt, on a thread of the run's pool: no database here. Raising is a failed attempt."""

    def breaker(self, delivery: Delivery, prepared: Any) -> str | None:
        """The circuit breaker this attempt goes through (events/breakers.py), or None for none. By default one per
        channel: its one provider (the SMTP server, the SMS provider)."""
        return self.name

    def rate_limit(self, delivery: Delivery, prepared: Any) -> int | None:
        """At most this many attempts a second at the delivery's target (events/throttle.py), or None for no limit."""
        return None

    def breaker_failure(self, outcome: Outcome) -> bool:
        """Whether a failed attempt says the provider or host is in trouble (no answer, or a 5xx), as opposed to
        an answer about this one message."""
        return not outcome.succeeded and (outcome.status_code is None or outcome.status_code >= 500)

    @abstractmethod
    def retry_schedule(self) -> Sequence[float]:
        """Seconds to wait before each attempt: [0, 5, 300] tries at once, after 5 s, then 5 min, then gives up."""

    def delivered(self, deliveries: list[Delivery]) -> None:
        """After these deliveries' successes are recorded (the endpoint's failure streak ends, for instance)."""

    def failed(self, delivery: Delivery, outcome: Outcome, *, gave_up: bool) -> None:
        """After a failed attempt is recorded; `gave_up` when no retry follows."""


_channels: dict[str, Channel] = {}


def register(channel: Channel) -> Channel:
    """Add a channel (or replace the one of the same name)."""
    _channels[channel.name] = channel
    return channel


def unregister(name: str) -> None:
    _channels.pop(name, None)


def get(name: str) -> Channel | None:
    return _channels.get(name)


def live_channels() -> list[LiveChannel]:
    return [channel for channel in _channels.values() if isinstance(channel, LiveChannel)]


def delivery_channels() -> list[DeliveryChannel]:
    return [channel for channel in _channels.values() if isinstance(channel, DeliveryChannel)]


def names(channels: Sequence[Channel]) -> list[str]:
    return [channel.name for channel in channels]
