"""Benchmark of the request-body limit: what over-large requests cost the server's memory.

Starts a real ``sluice server start`` on SQLite (``bench_server.running_server``), then sends, as an
attacker or a buggy client would, four 50 MB ``create_flow_run`` bodies at once (with a
Content-Length) and one 300 MB chunked body, and prints one figure per line: the answers, the
server's resident memory before and after, and its peak (VmHWM). Before the limit, the four 50 MB
bodies were stored as parameters and took the server from 286 MB to 698 MB, and one 300 MB body
left it at 1.48 GB. Run with ``make bench`` or ``python bench/bench_request_limits.py``.
"""

from __future__ import annotations

import socket
import sys
import tempfile
import threading
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_server import rss_megabytes, running_server

MB = 1024 * 1024


def peak_rss_megabytes(pid: int) -> float:
    """The most resident memory the process has used so far (VmHWM), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def send_large_bodies(url: str, deployment_id: str, count: int, size: int) -> list[int]:
    """``count`` concurrent create_flow_run requests whose parameters are ``size`` bytes; their statuses."""
    body = b'{"parameters": {"blob": "' + b"x" * size + b'"}}'
    statuses: list[int] = []

    def send() -> None:
        with httpx.Client(timeout=120) as http:
            try:
                response = http.post(
                    f"{url}/deployments/{deployment_id}/create_flow_run",
                    content=body,
                    headers={"content-type": "application/json"},
                )
                statuses.append(response.status_code)
            except httpx.HTTPError as exc:  # the server may close the connection after its answer
                statuses.append(getattr(getattr(exc, "response", None), "status_code", 0))

    threads = [threading.Thread(target=send) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def send_chunked_body(url: str, size: int) -> tuple[int, int]:
    """A chunked POST of ``size`` bytes on a raw socket; the status and the bytes sent before the answer."""
    parts = urlsplit(url)
    chunk = b"%x\r\n%s\r\n" % (MB, b" " * MB)
    sent = 0
    with socket.create_connection((parts.hostname, parts.port), timeout=120) as connection:
        connection.sendall(
            f"POST {parts.path}/flow_runs/filter HTTP/1.1\r\nHost: {parts.hostname}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
        )

        def upload() -> None:
            nonlocal sent
            try:
                while sent < size:
                    connection.sendall(chunk)
                    sent += MB
                connection.sendall(b"0\r\n\r\n")
            except OSError:
                pass

        uploader = threading.Thread(target=upload)
        uploader.start()
        answer = b""
        while b"\r\n" not in answer:
            data = connection.recv(4096)
            if not data:
                break
            answer += data
        uploader.join()
    status = int(answer.split()[1]) if answer else 0
    return status, sent


def main() -> None:
    """Every figure, on SQLite."""
    with (
        tempfile.TemporaryDirectory(prefix="sluice-bench-") as home,
        running_server(Path(home), None) as (url, process, _),
    ):
        with httpx.Client(base_url=url, timeout=30) as http:
            flow = http.post("/flows/", json={"name": "bench"}).json()
            deployment = http.post("/deployments/", json={"name": "limits", "flow_id": flow["id"]}).json()
            for _ in range(50):
                http.post(f"/deployments/{deployment['id']}/create_flow_run", json={})
        print(f"request limits: RSS before: {rss_megabytes(process.pid):.0f} MB")
        statuses = send_large_bodies(url, deployment["id"], count=4, size=50 * MB)
        print(f"request limits: four 50 MB bodies at once answered {sorted(statuses)}")
        print(f"request limits: RSS after four 50 MB bodies: {rss_megabytes(process.pid):.0f} MB")
        status, sent = send_chunked_body(url, 300 * MB)
        print(f"request limits: a 300 MB chunked body answered {status} after {sent / MB:.0f} MB sent")
        print(f"request limits: RSS after a 300 MB body: {rss_megabytes(process.pid):.0f} MB")
        print(f"request limits: peak RSS of the server: {peak_rss_megabytes(process.pid):.0f} MB")
        with httpx.Client(base_url=url, timeout=30) as http:
            runs = http.post("/flow_runs/filter", json={"limit": 1000}).json()
        print(f"request limits: runs stored: {len(runs)} (50 before)")


if __name__ == "__main__":
    main()
