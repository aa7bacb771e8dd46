"""Every consumer against the event catalog: what a service handles is something that is published,
in the shape the catalog gives it, and every catalogued type is named as DESIGN.md says."""

import importlib
import re

import pytest
from marshmallow import RAISE

from club_shared.config import SERVICES
from club_shared.events import CATALOG

NAME = re.compile(r"^(membership|booking|billing|integrations|notifications)\.[a-z_]+\.[a-z_]+$")


def handlers_of(service: str) -> dict:
    return importlib.import_module(f"club_{service}.handlers").HANDLERS


@pytest.mark.parametrize("service", SERVICES)
def test_every_handled_type_is_in_the_catalog(service):
    catalogued = {event_type for event_type, _version in CATALOG}
    unknown = set(handlers_of(service)) - catalogued
    assert not unknown, f"{service} handles events nobody may publish: {sorted(unknown)}"


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_consumes_its_own_events_through_the_bus(service):
    own = [t for t in handlers_of(service) if t.startswith(f"{service}.")]
    assert not own, f"{service} handles its own events {own}: do that in the transaction instead"


@pytest.mark.parametrize(("event_type", "version"), sorted(CATALOG))
def test_catalogued_types_are_named_service_entity_verb(event_type, version):
    assert NAME.match(event_type), event_type
    assert version >= 1


@pytest.mark.parametrize(("event_type", "version"), sorted(CATALOG))
def test_catalog_schemas_refuse_unknown_fields(event_type, version):
    assert CATALOG[(event_type, version)]().unknown == RAISE, f"{event_type} v{version} must be strict"


def test_each_producer_module_holds_only_its_own_events():
    for service in SERVICES:
        try:
            module = importlib.import_module(f"club_shared.events.{service}")
        except ModuleNotFoundError:
            continue
        foreign = [t for t, _ in module.SCHEMAS if not t.startswith(f"{service}.")]
        assert not foreign, f"events/{service}.py lists {foreign}"
        missing = [key for key in module.SCHEMAS if key not in CATALOG]
        assert not missing, f"events/{service}.py is not registered in the catalog: {missing}"
