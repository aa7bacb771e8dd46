"""Merge the services' OpenAPI documents into the one the gateway serves at /openapi.json.

    python -m club_gateway.openapi            # writes gateway/static/openapi.json
    python -m club_gateway.openapi --check    # exit 1 if the checked-in file is stale
    python -m club_gateway.openapi -o -       # print instead

Each service's `create_app()` is built with CLUB_ENV=test (no database is touched) and asked for
its own /openapi.json. Paths are kept only where the route table sends them to that service, so
the document describes exactly what the gateway serves. Component names stay as the services
wrote them unless two services mean different things by one name; then each such component is
renamed `<Service><Name>` and that service's references follow.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import json
import os
import sys
from collections import defaultdict
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path

from werkzeug.test import Client

from club_gateway import routes

OUTPUT = Path(__file__).resolve().parent.parent / "static" / "openapi.json"
DEFAULT_OPENAPI_VERSION = "3.0.3"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

Specs = Mapping[str, dict]


class ServiceMissing(Exception):
    """The service has no app module yet (it is being written)."""


@contextmanager
def _test_env():
    saved = os.environ.get("CLUB_ENV")
    os.environ["CLUB_ENV"] = "test"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("CLUB_ENV", None)
        else:
            os.environ["CLUB_ENV"] = saved


def create_service_app(service: str):
    module_name = f"{routes.BY_NAME[service].package}.app"
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name in (routes.BY_NAME[service].package, module_name):
            raise ServiceMissing(f"{module_name} does not exist") from exc
        raise
    if not hasattr(module, "create_app"):
        raise ServiceMissing(f"{module_name} has no create_app()")
    with _test_env():
        return module.create_app()


def fetch_spec(app) -> dict:
    """The OpenAPI document a WSGI app serves at /openapi.json."""
    response = Client(app).get("/openapi.json")
    if response.status_code != 200:
        raise ValueError(f"/openapi.json answered {response.status_code}")
    return json.loads(response.get_data(as_text=True))


def load_specs(
    services: Iterable[str] = routes.SERVICE_NAMES,
    strict: bool = False,
    warn=lambda message: print(message, file=sys.stderr),
) -> dict[str, dict]:
    specs: dict[str, dict] = {}
    for service in services:
        try:
            app = create_service_app(service)
        except ServiceMissing as exc:
            if strict:
                raise
            warn(f"openapi: skipping {service}: {exc}")
            continue
        with _test_env():
            specs[service] = fetch_spec(app)
    return specs


# --- merging ---------------------------------------------------------------------------------


def _rewrite_refs(node, renames: Mapping[tuple[str, str], str]):
    """A copy of `node` with `#/components/<section>/<name>` references renamed."""

    def ref(value: str) -> str:
        parts = value.split("/")
        if len(parts) == 4 and parts[:2] == ["#", "components"]:
            new = renames.get((parts[2], parts[3]))
            if new:
                return f"#/components/{parts[2]}/{new}"
        return value

    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = ref(value)
            elif key == "mapping" and isinstance(value, dict):  # discriminator mappings
                out[key] = {k: ref(v) if isinstance(v, str) else v for k, v in value.items()}
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(item, renames) for item in node]
    return node


def _rename_security(requirements: list[dict], renames: Mapping[tuple[str, str], str]) -> list[dict]:
    # Security requirements name schemes by key, not by $ref.
    return [{renames.get(("securitySchemes", k), k): v for k, v in req.items()} for req in requirements]


def _new_name(service: str, name: str) -> str:
    return f"{service.title()}{name[:1].upper()}{name[1:]}"


def _collision_renames(specs: Specs) -> dict[str, dict[tuple[str, str], str]]:
    """Per service, the components that must be renamed.

    Two components with one name and equal content are one component. Renaming one can make
    others unequal (they referenced it), so repeat until nothing changes.
    """
    renames: dict[str, dict[tuple[str, str], str]] = {service: {} for service in specs}
    changed = True
    while changed:
        changed = False
        holders: dict[tuple[str, str], list[str]] = defaultdict(list)
        for service, spec in specs.items():
            for section, items in spec.get("components", {}).items():
                for name in items:
                    if (section, name) not in renames[service]:
                        holders[(section, name)].append(service)
        for key, services in holders.items():
            if len(services) < 2:
                continue
            section, name = key
            versions = {
                json.dumps(_rewrite_refs(specs[s]["components"][section][name], renames[s]), sort_keys=True)
                for s in services
            }
            if len(versions) > 1:
                for s in services:
                    renames[s][key] = _new_name(s, name)
                changed = True
    return renames


def merge(specs: Specs, warn=lambda message: print(message, file=sys.stderr)) -> dict:
    """One OpenAPI document from the services' documents (keyed by service name)."""
    renames = _collision_renames(specs)
    paths: dict[str, dict] = {}
    components: dict[str, dict] = defaultdict(dict)
    tags = []
    versions = set()

    for service in sorted(specs, key=_service_order):
        spec = copy.deepcopy(specs[service])
        versions.add(spec.get("openapi", DEFAULT_OPENAPI_VERSION))
        info = spec.get("info", {})
        tags.append({"name": service, "description": info.get("description") or info.get("title") or service})
        rename = renames[service]
        default_security = spec.get("security")

        for path, item in spec.get("paths", {}).items():
            if not routes.owns(service, path):
                warn(f"openapi: dropping {service} path {path}: the gateway routes it elsewhere")
                continue
            item = _rewrite_refs(item, rename)
            for method in HTTP_METHODS:
                operation = item.get(method)
                if operation is None:
                    continue
                # One tag per service: grouping in Swagger UI and one client class per service.
                operation["tags"] = [service]
                security = operation.get("security", default_security)
                if security is not None:
                    operation["security"] = _rename_security(security, rename)
            paths[path] = item

        for section, items in spec.get("components", {}).items():
            for name, component in items.items():
                new = rename.get((section, name), name)
                value = _rewrite_refs(component, rename)
                existing = components[section].get(new)
                if existing == value:
                    continue  # the same component, already taken from an earlier service
                if existing is not None:
                    raise ValueError(f"component {section}/{new} means two things even after renaming")
                components[section][new] = value

    if len(versions) > 1:
        warn(f"openapi: services disagree on the OpenAPI version {sorted(versions)}; using the highest")
    version = max(
        versions, key=lambda v: tuple(int(p) for p in v.split(".")), default=DEFAULT_OPENAPI_VERSION
    )
    document = {
        "openapi": version,
        "info": {
            "title": "Clubhouse API",
            "version": "v1",
            "description": (
                "Every Clubhouse service behind the gateway, merged from each service's own OpenAPI "
                "document. Errors are application/problem+json (RFC 9457). Every response carries "
                "X-Request-ID."
            ),
        },
        "tags": tags,
        "paths": dict(sorted(paths.items())),
    }
    if components:
        document["components"] = {
            section: dict(sorted(items.items())) for section, items in sorted(components.items())
        }
    return document


def _service_order(service: str) -> tuple[int, str]:
    known = routes.SERVICE_NAMES
    return (known.index(service) if service in known else len(known), service)


def dumps(document: dict) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m club_gateway.openapi",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-o", "--output", default=str(OUTPUT), help="file to write, or - for stdout")
    parser.add_argument("--check", action="store_true", help="exit 1 if the output file is not up to date")
    parser.add_argument("--strict", action="store_true", help="fail if a service has no app yet")
    args = parser.parse_args(argv)

    text = dumps(merge(load_specs(strict=args.strict)))
    if args.check:
        current = Path(args.output).read_text() if Path(args.output).exists() else None
        if current != text:
            print(f"{args.output} is stale: run python -m club_gateway.openapi", file=sys.stderr)
            return 1
        return 0
    if args.output == "-":
        sys.stdout.write(text)
    else:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
