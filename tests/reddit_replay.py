"""A local HTTP server that replays a recorded Reddit API session (betamax cassette) to praw.

praw is pointed at it through a praw.ini site (``oauth_url`` / ``reddit_url``), the way a user
configures praw, so the real praw and prawcore code paths run: OAuth token, the comments listing, every
``/api/morechildren`` expansion and "continue this thread" fetch. Requests are matched on
method + path (and, for morechildren, the set of requested ids). A subreddit listing, which
the cassette lacks, is answered with a Listing of the recorded submission itself.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit


def _key(method: str, path: str, body: str) -> tuple:
    path = path.rstrip("/")
    if path.endswith("/api/morechildren"):
        children = frozenset(",".join(parse_qs(body).get("children", [""])).split(","))
        return (method, path, children)
    return (method, path)


class RedditReplay:
    def __init__(self, cassette: Path):
        data = json.loads(Path(cassette).read_text())
        self.responses: dict[tuple, bytes] = {}
        self.submission: dict | None = None
        for interaction in data["interactions"]:
            req = interaction["request"]
            body = req.get("body") or {}
            body = body.get("string", "") if isinstance(body, dict) else str(body)
            key = _key(req["method"], urlsplit(req["uri"]).path, body)
            raw = interaction["response"]["body"]["string"].encode()
            self.responses[key] = raw
            if self.submission is None and "/comments/" in req["uri"]:
                self.submission = json.loads(raw)[0]["data"]["children"][0]
        self.unmatched: list[str] = []
        self.requests = 0

    def __enter__(self) -> "RedditReplay":
        replay = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                path = urlsplit(self.path).path
                replay.requests += 1
                raw = replay.responses.get(_key(method, path, body))
                if raw is None and method == "GET" and path.rstrip("/").startswith("/r/"):
                    raw = json.dumps({"kind": "Listing", "data": {
                        "after": None, "before": None, "children": [replay.submission]}}).encode()
                if raw is None:
                    replay.unmatched.append(f"{method} {self.path} {body[:80]}")
                    self.send_response(404)
                    raw = b'{"error": 404}'
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self):
                self._answer("GET")

            def do_POST(self):
                self._answer("POST")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def env(self, config_home: Path, site: str = "replay") -> dict[str, str]:
        """Write a praw.ini with a site pointing at this server (dummy app credentials) into
        ``config_home`` and return the environment that makes praw read it."""
        config_home.mkdir(parents=True, exist_ok=True)
        (config_home / "praw.ini").write_text(
            f"[{site}]\nclient_id = replay-client\nclient_secret = replay-secret\n"
            f"user_agent = alignx-pipeline tests (replay)\noauth_url = {self.url}\nreddit_url = {self.url}\n"
        )
        return {"XDG_CONFIG_HOME": str(config_home)}
