"""A loopback HTTP/1.1 proxy that can lose an answer: the request reaches the server and is done, but
the connection breaks before the client reads the answer — a load balancer reset, a network cut, a
replica that dies between its commit and its reply.

It understands just enough HTTP for the Sluice API: requests and answers with a ``Content-Length``
(every API answer has one), several per connection (keep-alive).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass

from tests.e2e.processes import free_port


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as bytes."""

    request_line: str
    answer_body: bytes


def _read_message(stream: socket.socket, buffer: bytearray) -> tuple[bytes, bytes] | None:
    """One HTTP message (head, body) from ``stream``; None when it closed first."""
    while b"\r\n\r\n" not in buffer:
        data = stream.recv(65536)
        if not data:
            return None
        buffer.extend(data)
    end = buffer.index(b"\r\n\r\n") + 4
    head = bytes(buffer[:end])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(buffer) < end + length:
        data = stream.recv(65536)
        if not data:
            return None
        buffer.extend(data)
    body = bytes(buffer[end : end + length])
    del buffer[: end + length]
    return head, body


class AnswerLosingProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream_port``; an exchange ``lose`` says yes to has its answer dropped
    and its connection closed (the server did the work; the client sees a broken connection)."""

    def __init__(self, upstream_port: int, lose: Callable[[Exchange], bool]) -> None:
        self.upstream_port = upstream_port
        self.lose = lose
        self.port = free_port()
        self.lost: list[Exchange] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._closed = threading.Event()
        threading.Thread(target=self._accept, name="answer-losing-proxy", daemon=True).start()

    @property
    def api_url(self) -> str:
        """The API URL through the proxy."""
        return f"http://127.0.0.1:{self.port}/api"

    def close(self) -> None:
        """Stop accepting connections."""
        self._closed.set()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        try:
            upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        except OSError:
            client.close()
            return
        from_client, from_upstream = bytearray(), bytearray()
        with client, upstream:
            while True:
                try:
                    request = _read_message(client, from_client)
                    if request is None:
                        return
                    upstream.sendall(request[0] + request[1])
                    answer = _read_message(upstream, from_upstream)
                    if answer is None:
                        return
                except OSError:
                    return
                exchange = Exchange(request[0].split(b"\r\n", 1)[0].decode(), answer[1])
                if self.lose(exchange):
                    self.lost.append(exchange)
                    return  # both connections close: the client never sees the answer
                try:
                    client.sendall(answer[0] + answer[1])
                except OSError:
                    return
