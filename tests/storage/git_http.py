"""A tiny git smart-HTTP server for the tests: a WSGI wrapper around ``git http-backend`` that only
answers requests carrying the expected token in the ``Authorization`` header (``Bearer TOKEN``, or
HTTP Basic with the token as password, as GitHub takes it)."""

from __future__ import annotations

import base64
import subprocess
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from tests.storage.servers import LOOPBACK

StartResponse = Callable[..., Any]


def token_matches(header: str, token: str) -> bool:
    """True when the ``Authorization`` header carries ``token``."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value == token
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value).decode()
        except ValueError:
            return False
        return decoded.partition(":")[2] == token
    return False


def git_http_app(project_root: Path, token: str, seen_headers: list[str]) -> Callable[..., Iterable[bytes]]:
    """The WSGI app: check the token, then hand the request to ``git http-backend`` (CGI)."""

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        header = environ.get("HTTP_AUTHORIZATION", "")
        seen_headers.append(header)
        if not token_matches(header, token):
            start_response("401 Unauthorized", [("WWW-Authenticate", 'Basic realm="sluice-test"')])
            return [b"token required\n"]
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        cgi_environment = {
            "GIT_PROJECT_ROOT": str(project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": environ.get("PATH_INFO", ""),
            "QUERY_STRING": environ.get("QUERY_STRING", ""),
            "REQUEST_METHOD": environ["REQUEST_METHOD"],
            "CONTENT_TYPE": environ.get("CONTENT_TYPE", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_USER": "sluice-test",
            "REMOTE_ADDR": LOOPBACK,
            "PATH": "/usr/bin:/bin:/usr/local/bin",
        }
        if environ.get("HTTP_GIT_PROTOCOL"):
            cgi_environment["GIT_PROTOCOL"] = environ["HTTP_GIT_PROTOCOL"]
        if environ.get("HTTP_CONTENT_ENCODING"):
            cgi_environment["HTTP_CONTENT_ENCODING"] = environ["HTTP_CONTENT_ENCODING"]
        result = subprocess.run(
            ["git", "http-backend"], input=body, env=cgi_environment, capture_output=True, check=False
        )
        head, _, payload = result.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = result.stdout.partition(b"\n\n")
        status = "200 OK"
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = value.strip()
            elif name:
                headers.append((name.strip(), value.strip()))
        start_response(status, headers)
        return [payload]

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serve_git_http(project_root: Path, token: str) -> Iterator[tuple[str, list[str]]]:
    """Serve ``project_root`` over smart HTTP on the loopback; yields the base URL and the
    ``Authorization`` headers seen."""
    seen: list[str] = []
    server = make_server(
        LOOPBACK,
        0,
        git_http_app(project_root, token, seen),
        server_class=_ThreadingServer,
        handler_class=_QuietHandler,
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()
