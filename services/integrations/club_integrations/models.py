"""The integrations service's tables."""

from __future__ import annotations

from club_shared.bus import bus_tables
from club_shared.models import ServiceBase, new_metadata


class Base(ServiceBase):
    __abstract__ = True
    metadata = new_metadata()


BUS = bus_tables(Base.metadata)
