"""What one service process holds: its settings, database, bus tables and broker connection."""

from __future__ import annotations

import threading
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from .auth import TokenVerifier, development_key_pair
from .bus import BusTables, Transport, publish, queue_names
from .bus.memory import MemoryBroker, MemoryTransport
from .bus.transport import QueueNames
from .config import Settings
from .db import Database
from .events import Event

MEMORY_URL = "memory://"
_memory_broker: MemoryBroker | None = None
_memory_lock = threading.Lock()


def memory_broker() -> MemoryBroker:
    """The process's in-memory broker, shared by every service in the one-process mode."""
    global _memory_broker
    with _memory_lock:
        if _memory_broker is None:
            _memory_broker = MemoryBroker()
        return _memory_broker


class Runtime:
    def __init__(self, settings: Settings, tables: BusTables):
        self.settings = settings
        self.tables = tables
        self.tz = ZoneInfo(settings.club_timezone)

    @property
    def service(self) -> str:
        return self.settings.service

    @cached_property
    def db(self) -> Database:
        return Database(self.settings.service_database_url, pool_size=self.settings.db_pool_size)

    def close(self) -> None:
        """Close the database connections this runtime opened (if it opened any)."""
        if "db" in self.__dict__:
            self.db.dispose()

    @cached_property
    def public_key(self) -> str | None:
        if self.settings.jwt_public_key:
            return self.settings.jwt_public_key
        if self.settings.is_development:
            return development_key_pair(self.settings.data_dir)[1]
        return None

    @cached_property
    def verifier(self) -> TokenVerifier | None:
        return TokenVerifier(self.public_key, self.settings.jwt_issuer) if self.public_key else None

    @property
    def uses_memory_bus(self) -> bool:
        return self.settings.amqp_url == MEMORY_URL

    def transport(self, role: str) -> Transport:
        """A new broker connection for one thread (`role` names it in the broker's UI)."""
        if self.uses_memory_bus:
            return MemoryTransport(memory_broker())
        if not self.settings.amqp_url:
            raise RuntimeError("AMQP_URL is not set (use memory:// for the in-memory bus)")
        from .bus.rabbitmq import RabbitTransport

        return RabbitTransport(
            self.settings.amqp_url, self.settings.bus_namespace, connection_name=f"{self.service}-{role}"
        )

    def ping_broker(self) -> None:
        if self.uses_memory_bus:
            return
        from .bus.rabbitmq import ping

        ping(self.settings.amqp_url)

    @property
    def queues(self) -> QueueNames:
        return queue_names(self.settings.bus_namespace, self.service)

    def publish(self, session: Session, event_type: str, data: dict[str, Any]) -> Event:
        """Record an event in this service's outbox, inside `session`'s transaction."""
        return publish(session, self.tables, event_type, data, producer=self.service)
