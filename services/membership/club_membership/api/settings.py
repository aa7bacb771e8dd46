"""/api/v1/settings: the club's settings, typed and validated (admins change them)."""

from __future__ import annotations

from flask_smorest import Blueprint

from club_shared.problems import Problem
from club_shared.web import runtime

from ..actions import settings as actions
from ..context import actor, admin_only, public, staff_only
from ..domain import settings as registry
from ..schemas import SettingOut, SettingPut, SystemSettingOut

blp = Blueprint("settings", __name__, url_prefix="/api/v1/settings", description="Club settings")


@blp.get("")
@staff_only
@blp.response(200, SettingOut(many=True))
def list_settings():
    """Every setting with its value, default, category and whether it was changed."""
    with runtime().db.transaction() as session:
        return list(actions.all_values(session).values())


@blp.get("/public")
@public
@blp.response(200)
def public_settings():
    """The settings anyone may read (contact details, hours, time zone): `{key: value}`."""
    with runtime().db.transaction() as session:
        return {key: s["value"] for key, s in actions.all_values(session).items() if s["public"]}


@blp.get("/system")
@admin_only
@blp.response(200, SystemSettingOut(many=True))
def system_settings():
    """Machine-kept keys (e.g. last_guest_pass_reset); read-only."""
    with runtime().db.transaction() as session:
        return actions.system_values(session)


def _spec(key: str) -> registry.SettingSpec:
    if key not in registry.REGISTRY:
        raise Problem(404, f"There is no setting {key}.", code="NOT_FOUND")
    spec = registry.REGISTRY[key]
    if spec.read_only:
        raise Problem(409, f"{key} changes through its own operation.", code="SETTING_READ_ONLY")
    return spec


@blp.put("/<key>")
@admin_only
@blp.arguments(SettingPut)
@blp.response(200, SettingOut)
def put_setting(body, key: str):
    """Change a setting; publishes membership.setting.updated (services keep the keys they use)."""
    _spec(key)
    with runtime().db.transaction() as session:
        try:
            actions.put(session, runtime(), actor(), key, body["value"])
        except registry.SettingError as exc:
            raise Problem(
                422, str(exc), code="SETTING_INVALID", errors={"json": {"value": [str(exc)]}}
            ) from None
        return actions.all_values(session)[key]


@blp.delete("/<key>")
@admin_only
@blp.response(200, SettingOut)
def reset_setting(key: str):
    """Back to the default."""
    _spec(key)
    with runtime().db.transaction() as session:
        actions.reset(session, runtime(), actor(), key)
        return actions.all_values(session)[key]
