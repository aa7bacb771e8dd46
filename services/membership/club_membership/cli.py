from club_shared.cli import service_main

from .app import make_runtime
from .handlers import HANDLERS
from .jobs import make_jobs


def main(argv: list[str] | None = None) -> int:
    return service_main("club_membership", make_runtime, HANDLERS, argv, make_jobs=make_jobs)
