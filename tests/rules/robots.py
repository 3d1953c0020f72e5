"""Real local HTTP receivers for the people's channels (group robots, SMS gateways):
they record every request (path with query, headers, body) and answer as the provider
documents it, or fail on purpose."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Got:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def query(self) -> dict[str, list[str]]:
        return parse_qs(urlsplit(self.path).query)


class Robot:
    """Answers ``answer`` (JSON) with ``status``; records every request."""

    def __init__(self, answer: Any | None = None, status: int = 200) -> None:
        self.answer = {"errcode": 0, "errmsg": "ok"} if answer is None else answer
        self.status = status
        self.got: list[Got] = []
        self.lock = threading.Lock()
        robot = self

        class Handler(BaseHTTPRequestHandler):
            def _any(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with robot.lock:
                    robot.got.append(Got(self.command, self.path, dict(self.headers.items()),
                                         body))
                    out = json.dumps(robot.answer).encode()
                    status = robot.status
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_POST = do_PUT = do_GET = _any

            def log_message(self, *_a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Robot:
        self.thread.start()
        return self

    def __exit__(self, *_exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def requests(self) -> list[Got]:
        with self.lock:
            return list(self.got)
