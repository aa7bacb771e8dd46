"""A WSGI app served on 127.0.0.1 on a thread, for the fakes."""

from __future__ import annotations

import threading

from werkzeug.serving import WSGIRequestHandler, make_server


class _Quiet(WSGIRequestHandler):
    # Keep-alive, as the real services do: a client's connection pool is then used as in production.
    protocol_version = "HTTP/1.1"

    def log_request(self, *args, **kwargs) -> None:  # the tests assert on what the fake recorded
        pass


class LocalServer:
    def __init__(self, app, port: int = 0):
        self._server = make_server("127.0.0.1", port, app, threaded=True, request_handler=_Quiet)
        self.port = self._server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"fake-{self.port}", daemon=True
        )

    def start(self) -> LocalServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)
