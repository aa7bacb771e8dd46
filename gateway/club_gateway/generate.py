"""Regenerate (or, with --check, verify) every file made from the route table.

    python -m club_gateway.generate           # rewrite them all
    python -m club_gateway.generate --check   # exit 1 and name the stale ones

Files: gateway/nginx.conf, gateway/nginx.compose.conf, k8s/base/ingress.yaml and Procfile.stack.
(The merged OpenAPI document is built where it is served: `nginx --prepare`, the gateway image, the
dev dispatcher.)
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from club_gateway import ingress, nginx, procfile

REPO = Path(__file__).resolve().parents[2]


def targets() -> dict[Path, Callable[[], str]]:
    return {
        REPO / "gateway" / "nginx.conf": lambda: nginx.render(nginx.Options()),
        REPO / "gateway" / "nginx.compose.conf": lambda: nginx.render(nginx.COMPOSE),
        REPO / "k8s" / "base" / "ingress.yaml": ingress.render,
        REPO / "Procfile.stack": procfile.render,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m club_gateway.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is stale")
    args = parser.parse_args(argv)
    stale = []
    for path, make in targets().items():
        text = make()
        current = path.read_text() if path.exists() else None
        if current == text:
            continue
        stale.append(path.relative_to(REPO))
        if not args.check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
