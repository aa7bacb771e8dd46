"""What a transport must do, shared by the RabbitMQ and in-memory transports.

Topology for a consuming service `svc` in namespace `ns` (default `club`):
  exchange `ns.events` (topic)   →  queue `ns.svc` (quorum, bound to the types svc handles)
  a failed delivery              →  `ns.svc.retry.<ms>` (TTL queue, dead-letters back to `ns.svc`)
  after the last allowed attempt →  `ns.svc.parked` (inspect and replay with `club-bus`)
Unroutable events (no consumer bound yet) go to `ns.unrouted` through the alternate exchange.
"""

from __future__ import annotations

import enum
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

#: Header counting the failed attempts a message has already had.
ATTEMPTS_HEADER = "x-club-attempts"
#: Header carrying why a message was parked.
PARKED_REASON_HEADER = "x-club-parked-reason"


@dataclass(frozen=True)
class QueueNames:
    exchange: str
    main: str
    parked: str
    unrouted: str
    dead_letter_exchange: str

    def retry(self, delay_ms: int) -> str:
        return f"{self.main}.retry.{delay_ms}ms"


def queue_names(namespace: str, consumer: str) -> QueueNames:
    return QueueNames(
        exchange=f"{namespace}.events",
        main=f"{namespace}.{consumer}",
        parked=f"{namespace}.{consumer}.parked",
        unrouted=f"{namespace}.unrouted",
        dead_letter_exchange=f"{namespace}.dlx",
    )


@dataclass(frozen=True)
class Message:
    routing_key: str
    body: bytes
    message_id: str
    headers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    message: Message
    #: How many times this message has failed before (our retries plus broker redeliveries).
    previous_failures: int


class Verdict(enum.Enum):
    ACK = "ack"
    RETRY = "retry"
    PARK = "park"


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    delay_ms: int = 0
    reason: str = ""


BatchHandler = Callable[[Sequence[Delivery]], Sequence[Outcome]]


@dataclass(frozen=True)
class Topology:
    """A consumer's queues and what they are bound to: declared before anything is published to
    them (by `club-<service> migrate` and at worker start), so no event finds no queue."""

    names: QueueNames
    routing_keys: tuple[str, ...]
    retry_delays_ms: tuple[int, ...]
    max_deliveries: int


class Transport(ABC):
    """A broker connection. Publishing is confirmed: `publish` returns only once the broker holds
    every message, and raises otherwise."""

    @abstractmethod
    def publish(self, messages: Sequence[Message]) -> None: ...

    @abstractmethod
    def declare(self, topology: Topology) -> None:
        """Create the consumer's queues and bindings (idempotent)."""

    @abstractmethod
    def consume(
        self, topology: Topology, handle: BatchHandler, stop: threading.Event, *, prefetch: int
    ) -> None:
        """Hand the consumer batches until `stop` is set. Each outcome is applied (ack, retry after
        a delay, park) only after `handle` has returned."""

    @abstractmethod
    def parked(self, names: QueueNames) -> list[Message]:
        """The parked messages, left parked."""

    @abstractmethod
    def replay(self, names: QueueNames, message_ids: Sequence[str] | None = None) -> int:
        """Move parked messages (all, or those named) back to the main queue with a fresh count."""

    def close(self) -> None:  # noqa: B027 - optional for transports that hold nothing
        pass
