"""`make run`: the whole club in one process on http://127.0.0.1:$PORT (default 8080).

PostgreSQL is the embedded server with its data in $CLUB_DATA_DIR (default ./var) unless
DATABASE_URL names one; the bus is in memory; CLUB_ENV is development.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path

from werkzeug.serving import make_server

from club_shared.db import start_embedded_postgres
from club_shared.logs import configure_logging

from .suite import start_suite

log = logging.getLogger("club_suite")


def main() -> int:
    data_dir = Path(os.environ.setdefault("CLUB_DATA_DIR", "var")).resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["CLUB_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("CLUB_ENV", "development")
    os.environ.setdefault("AMQP_URL", "memory://")
    configure_logging("suite", os.environ.get("LOG_LEVEL", "INFO"))
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = start_embedded_postgres(data_dir)
    port = int(os.environ.get("PORT", "8080"))

    suite = start_suite(seed=True)
    server = make_server("127.0.0.1", port, suite.app, threaded=True)
    stopping = threading.Event()

    def shut_down(*_):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, shut_down)
    signal.signal(signal.SIGINT, shut_down)
    log.info(
        "Clubhouse is running",
        extra={"url": f"http://127.0.0.1:{port}", "docs": f"http://127.0.0.1:{port}/docs"},
    )
    print(f"Clubhouse is running on http://127.0.0.1:{port} (docs at /docs). Ctrl-C stops it.", flush=True)
    server.serve_forever()
    suite.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
