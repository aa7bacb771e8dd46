"""The notifications service's tables."""

from __future__ import annotations

from datetime import datetime

from club_shared.bus import bus_tables
from club_shared.models import ServiceBase, new_metadata
from sqlalchemy import BigInteger, Boolean, DateTime, Identity, Index, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


class Notification(Base):
    """An in-app notification to one member (the seed's `notifications`)."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_email_created_at", "user_email", "created_at"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    user_email: Mapped[str] = mapped_column(String(320))
    type: Mapped[str] = mapped_column(String(50))
    title: Mapped[str] = mapped_column(String(200))
    message: Mapped[str] = mapped_column(Text)
    is_read: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


BUS = bus_tables(Base.metadata)
