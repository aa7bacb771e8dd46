"""The event bus: transactional outbox, relay, idempotent consumer, and two transports.

Web processes only ever write to the outbox (`publish`), inside the transaction of the change that
caused the event. The worker relays the outbox to the broker and consumes this service's queue.
"""

from .consumer import Consumer, Handler
from .outbox import publish
from .relay import Relay
from .tables import BusTables, bus_tables
from .transport import Delivery, Message, Outcome, Topology, Transport, Verdict, queue_names

__all__ = [
    "BusTables",
    "Consumer",
    "Delivery",
    "Handler",
    "Message",
    "Outcome",
    "Relay",
    "Topology",
    "Transport",
    "Verdict",
    "bus_tables",
    "publish",
    "queue_names",
]
