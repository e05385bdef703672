"""Real HTTP servers on 127.0.0.1 for the fetch tests.

``Upstream`` is a handler for pytest-httpserver that behaves like a mirror serving one file
(``Last-Modified``, ``If-Modified-Since``) and records every request's headers. ``RawServer`` is
a stdlib threaded server for what werkzeug will not do: drop a connection mid-body, stall.
"""

from __future__ import annotations

import email.utils
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from werkzeug import Request, Response

LAST_MODIFIED = 1_700_000_000.0  # a fixed time in the past, whole seconds


def closed_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@dataclass
class Upstream:
    """One file on a mirror; ``handler`` is given to ``expect_request(...).respond_with_handler``.

    ``body_for`` may pick a different body per request (e.g. a stale one unless the request
    asks caches to revalidate). ``empty_on_conditional`` imitates servers that ignore the
    condition and answer 200 with an empty body.
    """

    body: bytes
    last_modified: float = LAST_MODIFIED
    honour_ims: bool = True
    empty_on_conditional: bool = False
    body_for: Callable[[Request], bytes] | None = None
    requests: list[dict[str, str]] = field(default_factory=list)
    full_bodies_sent: int = 0

    def handler(self, request: Request) -> Response:
        self.requests.append(dict(request.headers))
        stamp = email.utils.formatdate(self.last_modified, usegmt=True)
        ims = request.headers.get("If-Modified-Since")
        if ims and self.empty_on_conditional:
            return Response(b"", status=200, headers={"Last-Modified": stamp})
        if ims and self.honour_ims:
            since = email.utils.parsedate_to_datetime(ims).timestamp()
            if self.last_modified <= since:
                return Response(status=304)
        body = self.body_for(request) if self.body_for else self.body
        self.full_bodies_sent += 1
        return Response(body, status=200, headers={"Last-Modified": stamp})


Behaviour = Callable[[BaseHTTPRequestHandler, int], None]
"""Given the request handler and the 1-based number of this request, write the answer."""


class RawServer:
    """A threaded HTTP server on 127.0.0.1 whose every answer is written by ``behaviour``."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.count = 0
        self.stop = threading.Event()
        self._lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                with outer._lock:
                    outer.count += 1
                    number = outer.count
                outer.behaviour(self, number)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def url(self, path: str = "/file") -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def __enter__(self) -> RawServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def send_full(handler: BaseHTTPRequestHandler, body: bytes) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)


def send_truncated(handler: BaseHTTPRequestHandler, body: bytes, sent: int) -> None:
    """Announce all of ``body``, send ``sent`` bytes of it, then drop the connection."""
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body[:sent])
    handler.wfile.flush()
    handler.connection.shutdown(socket.SHUT_RDWR)
    handler.close_connection = True
