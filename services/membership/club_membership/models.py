"""The membership service's tables (it owns these and no other service reads them)."""

from __future__ import annotations

import uuid
from datetime import datetime

from club_shared.bus import bus_tables
from club_shared.models import ServiceBase, new_metadata
from sqlalchemy import DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


class User(Base):
    """A member (the seed's `users`): e-mail is the identity key, stored trimmed and lower-cased."""

    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(36), primary_key=True, default=lambda: str(uuid.uuid4()))
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    tier: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @property
    def name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()


BUS = bus_tables(Base.metadata)
