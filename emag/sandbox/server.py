"""The sandbox over HTTP: a threaded server around the same handler the tests use."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from emag.sandbox.handler import Sandbox


class SandboxServer(ThreadingHTTPServer):
    """`server_address` tells the port; `stop()` releases hanging requests and closes the socket."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sandbox: Sandbox, address: tuple[str, int]) -> None:
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        super().__init__(address, SandboxRequestHandler)

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}/api-3"

    def stop(self) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer

    def version_string(self) -> str:
        return "nginx"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        sandbox = self.server.sandbox
        response = sandbox.handle(self.command, self.path, dict(self.headers.items()), body, self.client_address[0])
        if response.hang:
            # Hold the connection without a byte until the client gives up or the server stops.
            self.server.stopping.wait(sandbox.hang_seconds)
            self.close_connection = True
            return
        if response.delay:
            deadline = time.monotonic() + response.delay
            while not self.server.stopping.is_set() and time.monotonic() < deadline:
                self.server.stopping.wait(min(0.1, deadline - time.monotonic()))
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _answer

    def log_message(self, format: str, *args: Any) -> None:
        # The request log is sandbox.request_log; stderr lines would only repeat it.
        pass


def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0, *, background: bool = True) -> SandboxServer:
    """Start serving; with background=True in a daemon thread (returned at once), else the caller runs
    `server.serve_forever()`."""
    # eMAG's own servers hold their catalogue ready: generate every offer before the first request,
    # not while the client under test reads (a benchmark's sandbox shares the client's CPU).
    with sandbox.lock:
        for state in sandbox.accounts.values():
            state.catalogue.warm()
    server = SandboxServer(sandbox, (host, port))
    if background:
        server.thread = threading.Thread(target=server.serve_forever, name="emag-sandbox", daemon=True)
        server.thread.start()
    return server
