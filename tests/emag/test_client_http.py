"""The client over a real socket: timeouts, refused connections and bodies cut short, as the network makes them."""

import socket
import threading
import time

import pytest

from emag.client import EmagBadResponse, EmagClient, EmagTimeout, EmagUnavailable
from emag.models import ApiCall, SellerAccount


class RawServer:
    """A one-trick HTTP server on 127.0.0.1:0: each connection gets `behaviour(conn)`."""

    def __init__(self, behaviour):
        self.behaviour = behaviour
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn):
        try:
            conn.recv(65536)
            self.behaviour(conn, self.stopped)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self.stopped.set()
        self.sock.close()
        self.thread.join(timeout=2)


@pytest.fixture
def serve(mocked_responses, settings):
    settings.EMAG_RATE_LIMIT_ENABLED = False
    settings.EMAG_CONNECT_TIMEOUT = 1.0
    settings.EMAG_READ_TIMEOUT = 0.3
    mocked_responses.add_passthru("http://127.0.0.1")
    servers = []

    def start(behaviour):
        server = RawServer(behaviour)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def client_for(db_account_port):
    account = SellerAccount(
        name="raw", platform="custom", base_url=f"http://127.0.0.1:{db_account_port}/api-3", username="u@example.com"
    )
    account.set_password("pw")
    account.save()
    return EmagClient(account, max_tries=1)


def never_answer(conn, stopped):
    stopped.wait(3)


def stall_mid_body(conn, stopped):
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"isError"')
    stopped.wait(3)


def close_mid_body(conn, stopped):
    conn.sendall(b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{"isError"')


def test_it_times_out_when_emag_never_answers(db, serve):
    client = client_for(serve(never_answer).port)
    started = time.monotonic()

    with pytest.raises(EmagTimeout):
        client.read_vat_rates()

    assert time.monotonic() - started < 2
    assert ApiCall.objects.get().outcome == "timeout"


def test_it_times_out_when_the_answer_stalls_half_way(db, serve):
    client = client_for(serve(stall_mid_body).port)

    with pytest.raises(EmagTimeout, match="stalled"):
        client.read_vat_rates()


def test_it_calls_a_body_cut_short_a_bad_response(db, serve):
    client = client_for(serve(close_mid_body).port)

    with pytest.raises(EmagBadResponse, match="cut short") as caught:
        client.read_vat_rates()

    assert caught.value.permanent is False


def test_it_calls_a_refused_connection_unavailable(db, mocked_responses, settings):
    settings.EMAG_RATE_LIMIT_ENABLED = False
    mocked_responses.add_passthru("http://127.0.0.1")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # free once closed: nobody listens there

    with pytest.raises(EmagUnavailable, match="cannot reach"):
        client_for(port).read_vat_rates()
