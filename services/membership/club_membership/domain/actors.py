"""Who is acting: recorded with every change that staff (or a member, or the system) make."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    type: str  # staff | member | system
    email: str | None
    role: str | None = None
    member_id: str | None = None
    ip_address: str | None = None
    user_agent: str | None = None

    @property
    def is_staff(self) -> bool:
        return self.type == "staff"

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


SYSTEM = Actor(type="system", email=None, role=None)
