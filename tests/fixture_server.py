"""An HTTP server on 127.0.0.1 for download tests: serves bytes from memory, honours
`Range: bytes=N-`, and has switches to inject the failures real hosts produce."""
from __future__ import annotations

import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse


class FixtureServer:
    """Use as a context manager; set `files` and the switches, then read `requests`.

    files        path -> bytes served with 200 (or 206 for a Range request)
    cut_after    path -> n: the next response for path sends n body bytes, then drops
                 the connection (once; later requests are served whole)
    fail_with    path -> statuses answered first, one per request (e.g. [503, 500])
    ignore_range answer Range requests with the whole file and 200, as some hosts do
    wrong_range  answer Range requests with 206 from byte 0 (a broken cache or proxy)
    cut_always   path -> n: every response for path drops the connection after n body bytes
    max_requests answer 410 Gone once this many requests were served (bounds a client's loop)
    no_length    send no Content-Length: the body ends when the connection closes, so a
                 cut looks like the end of the file
    redirects    path -> (status, location): answered with that redirect (Zenodo's legacy
                 /record/ URLs, say)
    requests     one dict per request: path, range (header or None), status
    """

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut_after: dict[str, int] = {}
        self.fail_with: dict[str, list[int]] = {}
        self.ignore_range = False
        self.wrong_range = False
        self.cut_always: dict[str, int] = {}
        self.max_requests: int | None = None
        self.no_length = False
        self.redirects: dict[str, tuple[int, str]] = {}
        self.requests: list[dict] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._httpd.fixture = self
        # A short poll interval: shutdown() waits for it, once per test.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,),
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> "FixtureServer":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _plan(self, path: str, range_header: str | None) -> tuple[int, bytes, dict, int | None]:
        """(status, body, headers, bytes to send before cutting) for one request."""
        with self._lock:
            failures = self.fail_with.get(path)
            if self.max_requests is not None and len(self.requests) >= self.max_requests:
                plan = (410, b"", {}, None)
            elif path in self.redirects:
                status, location = self.redirects[path]
                plan = (status, b"", {"Location": location}, None)
            elif failures:
                status = failures.pop(0)
                plan = (status, b"", {"Retry-After": "0"} if status in (429, 503) else {}, None)
            elif path not in self.files:
                plan = (404, b"", {}, None)
            else:
                plan = self._serve(path, range_header)
            self.requests.append({"path": path, "range": range_header, "status": plan[0]})
            return plan

    def _serve(self, path: str, range_header: str | None):
        data = self.files[path]
        cut = self.cut_after.pop(path, self.cut_always.get(path))
        m = re.fullmatch(r"bytes=(\d+)-", range_header or "")
        if not m or self.ignore_range:
            return 200, data, {}, cut
        start = 0 if self.wrong_range else int(m.group(1))
        if start >= len(data):
            return 416, b"", {"Content-Range": f"bytes */{len(data)}"}, None
        return 206, data[start:], {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"}, cut


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        status, body, headers, cut = self.server.fixture._plan(urlparse(self.path).path,
                                                                self.headers.get("Range"))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if not self.server.fixture.no_length:
            self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        # A cut sends part of the promised body and closes: what a dropped link looks like.
        self.wfile.write(body if cut is None else body[:cut])
        self.close_connection = True

    def log_message(self, *args):
        pass
