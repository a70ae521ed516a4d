"""The sandbox over HTTP: a threaded server around the same handler the tests use.

eMAG counts a request against the rate limit when it reaches eMAG. The sandbox is one Python
process: a request's thread may wait for the interpreter (the GIL) while another thread renders a
page, and on a loaded machine that wait has reached 80-130 ms. Reading the clock when the thread
gets to the request would count it that much late, and the log would show requests crowded into a
second that arrived in two. So on Linux each connection asks the kernel for the time it received
the data (SO_TIMESTAMPNS), and a request's arrival is the time its first bytes were received.
Elsewhere, or if the kernel refuses, it is the clock when the request is read.
"""

from __future__ import annotations

import contextlib
import io
import socket
import struct
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from emag.sandbox.handler import Sandbox

# Linux's SO_TIMESTAMPNS (SO_TIMESTAMPNS_OLD: a struct timespec of two native longs), which Python's
# socket module does not name.
SO_TIMESTAMPNS = 35
TIMESPEC = struct.Struct("@ll")


class SandboxServer(ThreadingHTTPServer):
    """`server_address` tells the port; `stop()` releases hanging requests and closes the socket."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, sandbox: Sandbox, address: tuple[str, int]) -> None:
        self.sandbox = sandbox
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        super().__init__(address, SandboxRequestHandler)
        if kernel_times(sandbox):
            # On the listening socket, so that the kernel stamps a connection's first bytes too, which
            # arrive before the connection is accepted (accepted sockets inherit the option).
            with contextlib.suppress(OSError):
                self.socket.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

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


def kernel_times(sandbox: Sandbox) -> bool:
    """Whether to use the kernel's receive times: on Linux, where they are in the sandbox's own clock
    (time.time, not a test's)."""
    return sys.platform == "linux" and sandbox.clock is time.time


class _ArrivalSocketIO(io.RawIOBase):
    """A connection's reads, with the kernel's receive time of the first bytes read since `expect()`."""

    def __init__(self, connection: socket.socket) -> None:
        super().__init__()
        self.connection = connection
        self.arrival: float | None = None
        self.waiting = False

    def expect(self) -> None:
        """A new request starts: the next bytes read are its first."""
        self.arrival, self.waiting = None, True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size, ancillary, _flags, _address = self.connection.recvmsg_into([buffer], socket.CMSG_SPACE(TIMESPEC.size))
        if self.waiting and size:
            self.waiting = False
            for level, kind, data in ancillary:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= TIMESPEC.size:
                    seconds, nanoseconds = TIMESPEC.unpack(data[: TIMESPEC.size])
                    self.arrival = seconds + nanoseconds / 1e9
        return size


class SandboxRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: SandboxServer
    arrivals: _ArrivalSocketIO | None = None

    def setup(self) -> None:
        super().setup()
        if kernel_times(self.server.sandbox):
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            except OSError:
                return
            self.arrivals = _ArrivalSocketIO(self.connection)
            self.rfile.close()  # the socket's own reader, unused: it would hold the socket open
            self.rfile = io.BufferedReader(self.arrivals)

    def handle_one_request(self) -> None:
        if self.arrivals is not None:
            self.arrivals.expect()
        super().handle_one_request()

    def version_string(self) -> str:
        return "nginx"

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        sandbox = self.server.sandbox
        arrived = self.arrivals.arrival if self.arrivals is not None else None
        response = sandbox.handle(
            self.command, self.path, dict(self.headers.items()), body, self.client_address[0], arrived=arrived
        )
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
