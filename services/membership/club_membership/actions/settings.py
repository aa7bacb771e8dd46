"""Reading and writing settings (defaults from the registry when a key was never stored)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from club_shared.runtime import Runtime

from ..domain import settings as registry
from ..domain.actors import Actor
from ..models import AppSetting, SystemSetting
from . import audit


def get(session: Session, key: str) -> Any:
    spec = registry.spec_for(key)
    stored = session.scalar(select(AppSetting.value).where(AppSetting.key == key))
    return spec.default if stored is None else json.loads(stored)


def all_values(session: Session) -> dict[str, dict[str, Any]]:
    stored = {row.key: row for row in session.scalars(select(AppSetting))}
    values = {}
    for key, spec in registry.REGISTRY.items():
        row = stored.get(key)
        values[key] = {
            "key": key,
            "value": spec.default if row is None else json.loads(row.value),
            "default": spec.default,
            "category": spec.category,
            "description": spec.description,
            "public": spec.public,
            "read_only": spec.read_only,
            "is_default": row is None,
            "updated_by": row.updated_by if row else None,
            "updated_at": row.updated_at if row else None,
        }
    return values


def put(
    session: Session, runtime: Runtime, actor: Actor, key: str, value: Any, *, internal: bool = False
) -> Any:
    """Store a validated value and publish membership.setting.updated. Read-only keys change only
    through their own operation (`internal=True`)."""
    spec = registry.spec_for(key)
    if spec.read_only and not internal:
        raise registry.SettingError(f"{key} is changed by its own operation, not here")
    value = registry.validate(key, value)
    old = get(session, key)
    encoded = json.dumps(value)
    session.execute(
        insert(AppSetting)
        .values(key=key, value=encoded, category=spec.category, updated_by=actor.email)
        .on_conflict_do_update(
            index_elements=[AppSetting.key],
            set_={
                "value": encoded,
                "category": spec.category,
                "updated_by": actor.email,
                "updated_at": _now(),
            },
        )
    )
    runtime.publish(
        session,
        "membership.setting.updated",
        {"key": key, "value": value, "category": spec.category, "updated_by": actor.email},
    )
    audit.record(session, actor, "setting.updated", "setting", key, details={"old": old, "new": value})
    return value


def reset(session: Session, runtime: Runtime, actor: Actor, key: str) -> Any:
    spec = registry.spec_for(key)
    if spec.read_only:
        raise registry.SettingError(f"{key} is changed by its own operation, not here")
    row = session.scalar(select(AppSetting).where(AppSetting.key == key))
    if row is not None:
        session.delete(row)
        runtime.publish(
            session,
            "membership.setting.updated",
            {"key": key, "value": spec.default, "category": spec.category, "updated_by": actor.email},
        )
        audit.record(session, actor, "setting.reset", "setting", key, details={"old": json.loads(row.value)})
    return spec.default


def system_values(session: Session) -> list[SystemSetting]:
    return list(session.scalars(select(SystemSetting).order_by(SystemSetting.key)))


def _now():
    from sqlalchemy import func

    return func.now()
