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
from annotators.llm import ChatBackend, combine, parse_answer, plan_requests, request_body, shares
from annotators.ratings import Item, Result, Spend, prompt_version

log = get_logger("annotate")


class BatchAnnotator(ChatBackend):
    """The OpenAI Batch API: request JSONL -> upload -> batch -> poll -> download -> validate.

    The request file is the format vLLM's ``run_batch`` reads, so self-hosted models serve full
    builds too. Requests are the ``openai`` backend's: several comments each behind the shared
    instruction prefix (``llm.plan_requests``); ``custom_id`` names the request (its number and a
    hash of its comments' cache keys). A comment whose own entry in an answer is bad is asked
    again alone in a second, smaller batch; an answer unusable as a whole fails its comments (a
    rerun retries them). Batch ids are kept in ``state_file`` by the request file's hash: an
    interrupted run resumes polling the same batches instead of paying twice.
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
        # round 1: the planned multi-comment requests; round 2: each comment whose entry in its
        # answer was bad, alone (one request each, in a second, smaller batch)
        results, retry = self._round(client, items, keys, plan_requests(items, self.p["items_per_request"]), spend)
        on_result([r for i, r in sorted(results.items()) if i not in retry])
        if retry:
            spend.retried_alone += len(retry)
            again, _ = self._round(client, items, keys, [[i] for i in sorted(retry)], spend)
            for i in retry:
                r = again[i]
                r.tokens_in += results[i].tokens_in
                r.tokens_out += results[i].tokens_out
            on_result([again[i] for i in sorted(retry)])

    def _round(self, client, items: list[Item], keys: list[str], groups: list[list[int]], spend: Spend
               ) -> tuple[dict[int, Result], set[int]]:
        """One batch of the requests ``groups`` (indices into ``items``): the result of every item
        they hold, and the items of multi-comment requests whose own entry was bad (to ask alone)."""
        ids = [f"r{j}-{hashlib.sha256(''.join(keys[i] for i in g).encode()).hexdigest()[:16]}"
               for j, g in enumerate(groups)]
        lines = [json.dumps({"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
                             "body": request_body(self.p, [items[i] for i in g])}, sort_keys=True)
                 for cid, g in zip(ids, groups)]
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
            log.info("annotate: submitted batch %s with %d requests (%d comments)", batch_id, len(lines),
                     sum(map(len, groups)))
        else:
            log.info("annotate: resuming batch %s", batch_id)
        while True:
            batch = client.batches.retrieve(batch_id)
            if batch.status in ("completed", "failed", "expired", "cancelled"):
                break
            time.sleep(self.p["batch_poll_s"])
        group_of = dict(zip(ids, groups))
        results: dict[int, Result] = {}
        retry: set[int] = set()
        samples = max(1, self.p["self_consistency"])

        def fail(g: list[int], error: str, t_in: int = 0, t_out: int = 0) -> None:
            for i, a, b in zip(g, shares(t_in, len(g)), shares(t_out, len(g))):
                results[i] = Result(keys[i], error=error, tokens_in=a, tokens_out=b)

        if batch.output_file_id:
            for line in client.files.content(batch.output_file_id).text.splitlines():
                if not line.strip():
                    continue
                rec = json.loads(line)
                g = group_of.get(rec.get("custom_id"))
                if g is None:
                    continue
                body = (rec.get("response") or {}).get("body") or {}
                usage = body.get("usage") or {}
                t_in, t_out = usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
                spend.add(t_in, t_out)
                spend.requests += 1
                status = (rec.get("response") or {}).get("status_code", 0)
                if status != 200:
                    fail(g, f"http_{status}: batch request failed", t_in, t_out)
                    continue
                try:
                    contents = [c["message"]["content"] for c in body.get("choices") or []]
                    if len(contents) < samples:
                        raise ValueError(f"{len(contents)} answers in the batch result, {samples} asked for")
                    ok, bad = combine([parse_answer(c, len(g)) for c in contents], len(g))
                except (ValueError, KeyError, IndexError, TypeError) as exc:
                    fail(g, f"invalid_output: {exc}", t_in, t_out)
                    continue
                for j, (i, a, b) in enumerate(zip(g, shares(t_in, len(g)), shares(t_out, len(g)))):
                    r = results[i] = Result(keys[i], tokens_in=a, tokens_out=b)
                    if j in ok:
                        r.ratings, r.evidence = ok[j]
                    else:
                        r.error = f"invalid_output: {bad[j]}"
                        if len(g) > 1:
                            retry.add(i)
        if batch.error_file_id:
            for line in client.files.content(batch.error_file_id).text.splitlines():
                if line.strip():
                    rec = json.loads(line)
                    err = (rec.get("error") or {}).get("message") or json.dumps(rec.get("response"))
                    if rec.get("custom_id") in group_of:
                        fail(group_of[rec["custom_id"]], redact(f"batch_error: {err}", 300))
        for g in groups:
            if any(i not in results for i in g):
                fail([i for i in g if i not in results], f"batch_{batch.status}: no result for this request")
        state.pop(digest, None)  # done: a later run with new items submits a new batch
        self._save(state)
        return results, retry
