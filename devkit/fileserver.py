"""A small HTTP server on loopback serving a clip: what the emulator fetches for a link.

Upload by URL makes the service fetch the address itself; the emulator
fetches loopback addresses only, so tests serve their clip from here.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Files:
    """A small HTTP server on loopback: fixed routes, and the paths it was asked for."""

    def __init__(self, video: bytes) -> None:
        self.video = video
        self.asked: list[str] = []
        self.release = threading.Event()  # ends the wait of /hang.mp4
        files = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # the name http.server calls
                files.asked.append(self.path)
                files.answer(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-files"
        )
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        routes: dict[str, tuple[bytes, str]] = {
            "/media/city.mp4": (self.video, "video/mp4"),
            "/stream": (self.video, "video/mp4; codecs=avc1"),
            "/page": (b"<html>not a video</html>", "text/html; charset=utf-8"),
        }
        path = handler.path
        if path in routes:
            body, ctype = routes[path]
            handler.send_response(200)
            handler.send_header("Content-Type", ctype)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)
        elif path == "/nolength.mp4":  # HTTP/1.0, the end of the body is the end of the connection
            handler.send_response(200)
            handler.send_header("Content-Type", "video/mp4")
            handler.end_headers()
            handler.wfile.write(self.video)
            handler.close_connection = True
        elif path in ("/hop", "/away.mp4"):
            target = "/media/city.mp4" if path == "/hop" else "http://example.com/a.mp4"
            handler.send_response(302)
            handler.send_header("Location", target)
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        elif path == "/hang.mp4":
            self.release.wait(10)  # bounded: the teardown releases it at once
            handler.send_error(504)
        else:
            handler.send_error(404)

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)
