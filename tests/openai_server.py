"""A real HTTP server on 127.0.0.1 that speaks the OpenAI protocol the annotator uses:
chat completions (structured output), files (upload, content) and batches (create, retrieve).

A rating request carries several comments (annotators/ratings.py ``render_items``: "Comment N
(answers post J):" blocks); the answer lists each by its number with schema-conforming sparse
codes (0 to 4 dimensions, "d16+2s") derived from a hash of the comment's text, so the same
comment always gets the same ratings, whichever request carries it. With ``n`` > 1
(self-consistency) it returns n choices; the last of 3 or more adds one dimension the others
lack (``EXTRA``), which a majority vote must drop. ``faults`` is a queue of behaviours for the
next chat requests, consumed one per request:

  "429"        status 429 with Retry-After: 1
  "500"        status 500
  "hang"       no answer for ``hang_s`` seconds (past the client's timeout)
  "truncated"  an answer whose JSON content is cut off (unusable as a whole)
  "schema"     valid JSON whose entry for the request's first comment breaks the schema (d39+7s)
  "unknown"    the first comment's entry names a dimension that does not exist (d95+1w)
  "missing"    the first comment is left out of the answer
  "dense"      the old dense answer (every key d00..d89 with a value), not the schema at all
  "garbage"    an HTTP 200 whose body is not JSON at all
  "echo_key"   status 401 whose error message repeats the caller's API key (to any request)
  "echo_key_padded"  status 500 whose error message repeats the caller's API key after 250
               characters of padding (past any length an error is cut to)

``always`` applies one behaviour to every request while set; ``die_after`` = N answers every chat
request after the N-th with "500" (an endpoint dying mid-run). ``latency_s`` delays every answer.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


EXTRA = "d39+1w"
#: One comment of a rating request, as ``annotators.ratings.render_items`` lays it out.
COMMENT = re.compile(r"Comment (\d+) \(answers post \d+\):\n<<<\n(.*?)\n>>>(?=\n\nComment |\n\nPost |$)", re.S)


def codes_for(text: str) -> list[str]:
    """A comment's sparse codes: 0-4 dimensions (never d39), intensities in -2..2 without 0."""
    h = hashlib.sha256(text.encode()).digest()
    dims = sorted({h[i] % 90 for i in range(1, 1 + h[0] % 5)} - {39})
    return [f"d{d:02d}{[-2, -1, 1, 2][h[d % 32] % 4]:+d}{'ws'[h[(d + 7) % 32] % 2]}" for d in dims]


def comments_of(user_message: str) -> list[tuple[int, str]]:
    """(number, text) of each comment a rating request carries."""
    return [(int(m[1]), m[2]) for m in COMMENT.finditer(user_message)]


def ratings_for(user_message: str) -> dict:
    """The answer to a rating request: every comment by its number with its codes."""
    return {"items": [{"id": i, "r": codes_for(text)} for i, text in comments_of(user_message)]}


class OpenAIServer:
    def __init__(self, latency_s: float = 0.0, hang_s: float = 3.0):
        self.faults: deque[str] = deque()
        self.always: str | None = None
        self.die_after: int | None = None
        self.latency_s = latency_s
        self.hang_s = hang_s
        self.lock = threading.Lock()
        self.chat_requests = 0
        self.request_times: list[float] = []
        self.comments_asked: list[str] = []  # the text of every comment a rating request carried
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.uploads = 0
        self.batch_creates = 0
        self.hold_batches = False

    # -- chat ---------------------------------------------------------------------------------
    def completion(self, body: dict, content: str | list[str]) -> dict:
        prompt = "".join(m.get("content") or "" for m in body.get("messages", []))
        contents = content if isinstance(content, list) else [content]
        out_tokens = sum(len(c) // 4 + 1 for c in contents)
        return {
            "id": "chatcmpl-" + hashlib.sha1(prompt.encode()).hexdigest()[:12], "object": "chat.completion",
            "created": 1700000000, "model": body.get("model", "test-model"),
            "choices": [{"index": i, "finish_reason": "stop", "message": {"role": "assistant", "content": c}}
                        for i, c in enumerate(contents)],
            "usage": {"prompt_tokens": len(prompt) // 4, "completion_tokens": out_tokens,
                      "total_tokens": len(prompt) // 4 + out_tokens},
        }

    def answer_chat(self, body: dict, auth: str = "") -> tuple[int, dict, bytes]:
        with self.lock:
            self.chat_requests += 1
            self.request_times.append(time.monotonic())
            fault = self.always or (self.faults.popleft() if self.faults else "ok")
            if self.die_after is not None and self.chat_requests > self.die_after:
                fault = "500"
        if self.latency_s:
            time.sleep(self.latency_s)
        if fault == "echo_key":  # a careless server that echoes the caller's credential; a key is checked first
            key = auth.removeprefix("Bearer ")
            return 401, {}, json.dumps({"error": {"message": f"Incorrect API key provided: {key}. Header: {auth}",
                                                  "type": "invalid_request_error"}}).encode()
        first_user = next(m["content"] for m in body["messages"] if m["role"] == "user")
        schema_name = ((body.get("response_format") or {}).get("json_schema") or {}).get("name")
        if schema_name == "judge":  # a judge that prefers the longer response, whatever the order
            a, b = first_user.split("Response A:\n", 1)[1].split("\n\nResponse B:\n", 1)
            b = b.split("\n\nWhich response", 1)[0]
            verdict = "C" if fault == "schema" else ("A" if len(a) >= len(b) else "B")
            return 200, {}, json.dumps(self.completion(body, json.dumps({"preferred": verdict}))).encode()
        if schema_name is None and "Describe this user" in first_user:  # a description, with an email to scrub
            traits = first_user.rsplit("Traits: ", 1)[1].strip()
            return 200, {}, json.dumps(self.completion(
                body, f"This user comes across as {traits.lower()}. Reach them at someone@example.com.")).encode()
        if schema_name is None and "Rewrite this Reddit comment" in first_user:  # a paraphrase: half the words, reordered
            words = first_user.rsplit("Comment:\n", 1)[1].split()
            kept = words[: max(3, len(words) // 2)]
            return 200, {}, json.dumps(self.completion(body, "In other words, " + " ".join(reversed(kept)))).encode()
        if schema_name is None and "Answer this post" in first_user:  # generation: longer with a persona
            return 200, {}, json.dumps(self.completion(body, "An answer. " * (len(first_user) // 100 + 1))).encode()
        with self.lock:
            self.comments_asked += [t for _, t in comments_of(first_user)]
        good = json.dumps(ratings_for(first_user))
        if fault == "429":
            return 429, {"Retry-After": "1"}, b'{"error": {"message": "rate limited", "type": "rate_limit"}}'
        if fault == "500":
            return 500, {}, b'{"error": {"message": "internal error", "type": "server_error"}}'
        if fault == "echo_key_padded":
            key = auth.removeprefix("Bearer ")
            return 500, {}, json.dumps({"error": {"message": "upstream failure " + "." * 233 + f" (key {key})",
                                                  "type": "server_error"}}).encode()
        if fault == "hang":
            time.sleep(self.hang_s)
        if fault == "garbage":
            return 200, {}, b"<html>bad gateway</html>"
        if fault == "truncated":
            return 200, {}, json.dumps(self.completion(body, good[: len(good) // 2])).encode()
        if fault in ("schema", "unknown", "missing"):
            bad = json.loads(good)
            if fault == "missing":
                bad["items"] = bad["items"][1:]
            else:
                bad["items"][0]["r"].append("d39+7s" if fault == "schema" else "d95+1w")
            return 200, {}, json.dumps(self.completion(body, json.dumps(bad))).encode()
        if fault == "dense":
            return 200, {}, json.dumps(self.completion(body, json.dumps({f"d{i:02d}": 0 for i in range(90)}))).encode()
        n = body.get("n") or 1
        answers = [good] * n
        if n >= 3:
            extra = json.loads(good)
            for entry in extra["items"]:
                entry["r"].append(EXTRA)
            answers[-1] = json.dumps(extra)
        return 200, {}, json.dumps(self.completion(body, answers)).encode()

    # -- files and batches --------------------------------------------------------------------
    def run_batch(self, batch: dict) -> None:
        out = []
        for line in self.files[batch["input_file_id"]].decode().splitlines():
            if line.strip():
                req = json.loads(line)
                status, _, raw = self.answer_chat(req["body"])
                out.append(json.dumps({"id": "req", "custom_id": req["custom_id"], "error": None,
                                       "response": {"status_code": status, "request_id": "r",
                                                    "body": json.loads(raw) if status == 200 else {}}}))
        file_id = f"file-out-{len(self.files)}"
        self.files[file_id] = ("\n".join(out) + "\n").encode()
        batch.update(status="completed", output_file_id=file_id,
                     request_counts={"total": len(out), "completed": len(out), "failed": 0})

    def __enter__(self) -> "OpenAIServer":
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, body: bytes, headers: dict | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path = self.path.split("?")[0]
                if path.endswith("/chat/completions"):
                    status, headers, body = server.answer_chat(json.loads(raw), self.headers.get("Authorization", ""))
                    try:
                        self._send(status, body, headers)
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                elif path.endswith("/files"):
                    # multipart/form-data: take the part holding the JSONL
                    boundary = self.headers["Content-Type"].split("boundary=")[1].encode()
                    parts = [p for p in raw.split(b"--" + boundary) if b"filename=" in p]
                    content = parts[0].split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]
                    with server.lock:
                        server.uploads += 1
                        file_id = f"file-{len(server.files)}"
                        server.files[file_id] = content
                    self._send(200, json.dumps({"id": file_id, "object": "file", "bytes": len(content),
                                                "created_at": 1700000000, "filename": "requests.jsonl",
                                                "purpose": "batch", "status": "processed"}).encode())
                elif path.endswith("/batches"):
                    req = json.loads(raw)
                    with server.lock:
                        server.batch_creates += 1
                        batch_id = f"batch-{len(server.batches)}"
                        server.batches[batch_id] = {
                            "id": batch_id, "object": "batch", "endpoint": req["endpoint"],
                            "input_file_id": req["input_file_id"], "completion_window": req["completion_window"],
                            "status": "in_progress", "created_at": 1700000000, "output_file_id": None,
                            "error_file_id": None}
                    self._send(200, json.dumps(server.batches[batch_id]).encode())
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def do_GET(self):
                path = self.path.split("?")[0]
                if "/batches/" in path:
                    batch = server.batches[path.rsplit("/", 1)[1]]
                    if batch["status"] == "in_progress" and not server.hold_batches:
                        server.run_batch(batch)
                    self._send(200, json.dumps(batch).encode())
                elif path.endswith("/content"):
                    self.send_response(200)
                    body = server.files[path.split("/")[-2]]
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                else:
                    self._send(404, b'{"error": {"message": "not found"}}')

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
