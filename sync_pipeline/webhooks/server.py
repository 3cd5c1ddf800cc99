"""Serve a WSGI app on a thread per request (standard library), for the receiver and tests.

Every socket read has a timeout (``read_timeout``: the request line, headers and each read of the body), and the
app is given ``body_timeout`` for the whole body (``environ["sync_pipeline.body_deadline"]``), so a client that
stalls or trickles its body short of its Content-Length holds a thread for seconds, not forever.
"""

from __future__ import annotations

import threading
import time
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


READ_TIMEOUT = 5.0  # seconds for any one read from the client
BODY_TIMEOUT = 10.0  # seconds for the whole request body


class _ThreadingWSGIServerWithTimeouts(_ThreadingWSGIServer):
    read_timeout = READ_TIMEOUT
    body_timeout = BODY_TIMEOUT


class _QuietHandler(WSGIRequestHandler):
    def setup(self) -> None:
        self.timeout = self.server.read_timeout  # type: ignore[attr-defined]  # StreamRequestHandler applies it
        super().setup()

    def get_environ(self) -> dict:
        env = super().get_environ()
        env["sync_pipeline.body_deadline"] = time.monotonic() + self.server.body_timeout  # type: ignore[attr-defined]
        return env

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass


class WebhookServer:
    def __init__(self, app, host: str = "127.0.0.1", port: int = 0, *, read_timeout: float = READ_TIMEOUT,
                 body_timeout: float = BODY_TIMEOUT) -> None:
        self.httpd = make_server(host, port, app, server_class=_ThreadingWSGIServerWithTimeouts,
                                 handler_class=_QuietHandler)
        self.httpd.read_timeout, self.httpd.body_timeout = read_timeout, body_timeout  # type: ignore[attr-defined]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> WebhookServer:
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="webhook-receiver", daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        self.httpd.serve_forever()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> WebhookServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
