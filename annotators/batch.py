"""Backend ``openai-batch``: the OpenAI Batch API (half price), resumable by batch id."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

from alignx.llm import client_kwargs
from pipeline.caches import reading
from pipeline.io import write_json
from pipeline.logs import get_logger
from pipeline.secrets import redact
from annotators.llm import ChatBackend, parse_answer, request_body
from annotators.ratings import Result, Spend, agree, prompt_version

log = get_logger("annotate")


class BatchAnnotator(ChatBackend):
    """The OpenAI Batch API: request JSONL -> upload -> batch -> poll -> download -> validate.

    The request file is the format vLLM's ``run_batch`` reads, so self-hosted models serve full
    builds too. Batch ids are kept in ``state_file`` by the request file's hash: an interrupted
    run resumes polling the same batches instead of paying twice. ``custom_id`` is the cache key.
    """

    backend = "openai-batch"

    @classmethod
    def create(cls, p: dict, data_dir: Path) -> "BatchAnnotator":
        return cls(p, data_dir / "work" / "annotate" / "batches.json")

    @classmethod
    def spend(cls, p: dict) -> Spend:
        return Spend(price_in=p["price_input_per_mtok"], price_out=p["price_output_per_mtok"],
                     discount=p["batch_discount"], max_cost=p["max_cost"])

    def __init__(self, p: dict, state_file: Path):
        self.p = p
        self.model = p["model"]
        self.version = prompt_version()
        self.state_file = state_file

    def _state(self) -> dict:
        with reading(self.state_file, what="the record of open batches (without it their requests are sent again)"):
            return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def _save(self, state: dict) -> None:
        write_json(self.state_file, state)

    def annotate(self, items, keys, on_result, spend, show_progress=True) -> None:
        import openai

        client = openai.OpenAI(**client_kwargs(self.p))
        lines = [json.dumps({"custom_id": k, "method": "POST", "url": "/v1/chat/completions",
                             "body": request_body(self.p, it)}, sort_keys=True) for it, k in zip(items, keys)]
        payload = ("\n".join(lines) + "\n").encode()
        digest = hashlib.sha256(payload).hexdigest()
        state = self._state()
        batch_id = state.get(digest)
        if batch_id is None:
            spend.check()
            upload = client.files.create(file=("requests.jsonl", payload), purpose="batch")
            batch = client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                          completion_window="24h")
            batch_id = state[digest] = batch.id
            self._save(state)
            log.info("annotate: submitted batch %s with %d requests", batch_id, len(lines))
        else:
            log.info("annotate: resuming batch %s", batch_id)
        while True:
            batch = client.batches.retrieve(batch_id)
            if batch.status in ("completed", "failed", "expired", "cancelled"):
                break
            time.sleep(self.p["batch_poll_s"])
        results: dict[str, Result] = {}
        if batch.output_file_id:
            for line in client.files.content(batch.output_file_id).text.splitlines():
                if not line.strip():
                    continue
                rec = json.loads(line)
                res = Result(rec["custom_id"])
                body = (rec.get("response") or {}).get("body") or {}
                usage = body.get("usage") or {}
                res.tokens_in, res.tokens_out = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
                spend.add(res.tokens_in, res.tokens_out)
                status = (rec.get("response") or {}).get("status_code", 0)
                if status != 200:
                    res.error = f"http_{status}: batch request failed"
                else:
                    try:
                        samples = [parse_answer(c["message"]["content"]) for c in body.get("choices") or []]
                        if not samples:
                            raise ValueError("no answer in the batch result")
                        res.ratings, res.evidence = samples[0] if len(samples) == 1 else agree(samples)
                    except (ValueError, KeyError, IndexError) as exc:
                        res.error = f"invalid_output: {exc}"
                results[res.key] = res
        if batch.error_file_id:
            for line in client.files.content(batch.error_file_id).text.splitlines():
                if line.strip():
                    rec = json.loads(line)
                    err = (rec.get("error") or {}).get("message") or json.dumps(rec.get("response"))
                    results[rec["custom_id"]] = Result(rec["custom_id"], error=redact(f"batch_error: {err}", 300))
        for k in keys:
            if k not in results:
                results[k] = Result(k, error=f"batch_{batch.status}: no result for this request")
        on_result(list(results.values()))
        state.pop(digest, None)  # done: a later run with new items submits a new batch
        self._save(state)
