"""Request bodies against a real ``sluice server start`` (uvicorn): refusals keep the connection
usable, and a huge body is refused without being read (server/body_checks.py)."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import pytest

from tests.e2e.processes import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server on SQLite in a home of its own, without background services."""
    folder = tmp_path_factory.mktemp("body-checks-server")
    env = {key: value for key, value in os.environ.items() if not key.startswith("SLUICE_")}
    env.update(SLUICE_HOME=str(folder / "home"), SLUICE_SERVER_RUN_SERVICES="false")
    process = ServerProcess(env, folder / "server.log").start()
    yield process
    process.stop()


def _connect(server: ServerProcess) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=30)


def _request(path: str, body: bytes) -> bytes:
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _read_response(connection: socket.socket) -> tuple[int, bytes]:
    """One HTTP/1.1 response with a Content-Length: its status and body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        assert chunk, f"the server closed the connection; got {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    while len(rest) < length:
        rest += connection.recv(65536)
    return int(lines[0].split()[1]), rest[:length]


def test_refused_bodies_keep_the_connection_open_for_the_next_request(server):
    bodies = [b'{"limit": NaN}', b'{"limit": "\\ud800"}', b'{"limit": 1e999}', b"[" * 1000 + b"]" * 1000]
    with _connect(server) as connection:
        statuses = []
        for body in bodies:
            connection.sendall(_request("/api/flow_runs/filter", body))
            statuses.append(_read_response(connection)[0])
        connection.sendall(_request("/api/flow_runs/filter", b"{}"))
        last = _read_response(connection)

    assert statuses == [422, 422, 422, 422]
    assert last == (200, b"[]")


def test_a_body_announced_as_300_mb_is_refused_before_it_is_sent(server):
    head = _request("/api/flow_runs/filter", b"").replace(b"Content-Length: 0", b"Content-Length: 300000000")
    with _connect(server) as connection:
        connection.sendall(head)  # not one byte of the body follows
        status, body = _read_response(connection)

    assert status == 413
    assert b"larger than 5242880 bytes" in body


def test_a_chunked_upload_is_cut_off_once_past_the_limit(server):
    chunk = b"%x\r\n%s\r\n" % (65536, b" " * 65536)
    limit = 100 * 1024 * 1024  # far more than the server reads
    sent = 0

    def upload(connection: socket.socket) -> None:
        nonlocal sent
        try:
            while sent < limit:
                connection.sendall(chunk)
                sent += 65536
        except OSError:
            pass  # the server answered and closed the connection

    with _connect(server) as connection:
        connection.sendall(
            b"POST /api/flow_runs/filter HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        uploader = threading.Thread(target=upload, args=(connection,))
        uploader.start()
        status, body = _read_response(connection)  # the answer comes while the upload goes on
        uploader.join()

    assert status == 413
    assert b"larger than 5242880 bytes" in body
    assert sent < limit
