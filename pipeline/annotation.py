"""Preference-intensity annotation on the 90 dimensions: scale, directions, cache, backends.

Scale: per response and dimension a signed intensity in -2..2 (2 = clearly the label_1 pole,
1 = leans to it, 0 = neither / not applicable, -1 / -2 = the label_0 pole), stored as 90 int8.

Directions (DESIGN.md 2.3), one function each, used everywhere:
``pair_direction(chosen, rejected)`` = 1 / 0 / 0.5 per dimension as chosen's rating is above /
below / equal to rejected's; ``single_direction(r)`` = 1 / 0 / 0.5 by the sign of r.

Backends share ``annotate(items) -> results``:
- ``EmbeddingAnnotator`` (default, offline): all-MiniLM-L6-v2 similarity to two anchor
  sentences per dimension, plus readability and length features for complexity and
  concise/detailed, z-scored with calibration constants shipped in the repo.
- ``OpenAIAnnotator``: any OpenAI-compatible chat endpoint with strict structured output.
- ``BatchAnnotator``: the OpenAI Batch API (half price), resumable by batch id.

Every result is cached in sqlite under a hash of (backend, model, prompt version, post,
response); failures are cached with their reason and retried on the next run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import sqlite3
import time
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable

import numpy as np

from pipeline.errors import StageFailed, UserError
from pipeline.logs import get_logger, progress
from pipeline.taxonomy import N_DIMENSIONS, TAXONOMY_FILE, load_taxonomy

log = get_logger("annotate")
RESOURCES = Path(__file__).parent / "resources"
PROMPT_FILE = RESOURCES / "annotate_prompt.md"
ANCHORS_FILE = RESOURCES / "embedding_anchors.toml"
CALIBRATION_FILE = RESOURCES / "embedding_calibration.json"
SCALE = (-2, 2)
KEYS = [f"d{i:02d}" for i in range(N_DIMENSIONS)]
#: Strict JSON schema: a flat object, every key required, no other keys.
RATINGS_SCHEMA = {
    "type": "object",
    "properties": {k: {"type": "integer", "enum": [-2, -1, 0, 1, 2]} for k in KEYS},
    "required": KEYS,
    "additionalProperties": False,
}


# -- directions -------------------------------------------------------------------------------
def pair_direction(chosen, rejected) -> np.ndarray:
    """Shape (90,) in {0, 0.5, 1}: 1 where chosen's rating is higher, 0 lower, 0.5 equal."""
    c = np.asarray(chosen, dtype=np.int16)
    r = np.asarray(rejected, dtype=np.int16)
    return np.where(c > r, 1.0, np.where(c < r, 0.0, 0.5))


def single_direction(ratings) -> np.ndarray:
    """Shape (90,) in {0, 0.5, 1}: the sign of each rating."""
    r = np.asarray(ratings, dtype=np.int16)
    return np.where(r > 0, 1.0, np.where(r < 0, 0.0, 0.5))


def validate_ratings(obj: Any) -> list[int]:
    """90 ints in -2..2 from a parsed answer (object d00..d89, or a list); ValueError says what is wrong."""
    if isinstance(obj, dict):
        missing = [k for k in KEYS if k not in obj]
        extra = [k for k in obj if k not in KEYS]
        if missing or extra:
            raise ValueError(f"keys missing: {missing[:5]}, unexpected: {extra[:5]}")
        values = [obj[k] for k in KEYS]
    elif isinstance(obj, list):
        values = obj
    else:
        raise ValueError(f"expected a JSON object with keys d00..d89, got {type(obj).__name__}")
    if len(values) != N_DIMENSIONS:
        raise ValueError(f"expected {N_DIMENSIONS} ratings, got {len(values)}")
    for k, v in zip(KEYS, values):
        if isinstance(v, bool) or not isinstance(v, int) or not SCALE[0] <= v <= SCALE[1]:
            raise ValueError(f"{k} = {v!r} is not an integer from -2 to 2")
    return [int(v) for v in values]


# -- prompt -----------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _prompt_parts() -> tuple[str, str, str]:
    """The prompt template with the dimensions filled in, split around {post} and {response}."""
    lines = "\n".join(f"d{d.index:02d}: {d.description} | {d.label_1} | {d.label_0}" for d in load_taxonomy())
    head, rest = PROMPT_FILE.read_text().replace("{dimensions}", lines).split("{post}")
    middle, tail = rest.split("{response}")
    return head, middle, tail


def render_prompt(post: str, response: str) -> str:
    """The annotation prompt for one response (the dimension list first, so providers that
    cache prompt prefixes reuse it across requests)."""
    head, middle, tail = _prompt_parts()
    return head + post + middle + response + tail


def prompt_version() -> str:
    """Changes whenever the prompt file or the taxonomy changes."""
    h = hashlib.sha256(PROMPT_FILE.read_bytes() + TAXONOMY_FILE.read_bytes())
    return "p" + h.hexdigest()[:12]


# -- items, results, cache --------------------------------------------------------------------
@dataclass(frozen=True)
class Item:
    id: str
    post: str
    response: str


@dataclass
class Result:
    key: str
    ratings: list[int] | None = None
    error: str | None = None  # "<kind>: <detail>" when failed
    tokens_in: int = 0
    tokens_out: int = 0

    @property
    def ok(self) -> bool:
        return self.ratings is not None


def cache_key(backend: str, model: str, version: str, post: str, response: str) -> str:
    return hashlib.sha256(json.dumps([backend, model, version, post, response]).encode()).hexdigest()


class RatingCache:
    """sqlite: key -> ratings or failure. Shared by every build under the same data dir."""

    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(path, timeout=60)
        # WAL without fsync per commit: each answer is committed as it arrives (safe against a
        # killed process, cheap enough for hundreds of answers a second)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS ratings (key TEXT PRIMARY KEY, ratings TEXT, error TEXT, "
            "tokens_in INTEGER, tokens_out INTEGER, created REAL)"
        )

    def get_ok(self, keys: list[str]) -> dict[str, list[int]]:
        out = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT key, ratings FROM ratings WHERE ratings IS NOT NULL AND key IN ({','.join('?' * len(chunk))})"
            out.update({k: json.loads(r) for k, r in self.db.execute(q, chunk)})
        return out

    def put(self, results: list[Result]) -> None:
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO ratings VALUES (?, ?, ?, ?, ?, ?)",
                [(r.key, json.dumps(r.ratings) if r.ok else None, r.error, r.tokens_in, r.tokens_out, time.time())
                 for r in results],
            )


# -- cost -------------------------------------------------------------------------------------
@dataclass
class Spend:
    """Tokens and money of one run; raises when ``max_cost`` would be passed."""

    price_in: float  # USD per million input tokens
    price_out: float
    discount: float = 1.0
    max_cost: float = 0.0  # 0 = no limit
    tokens_in: int = 0
    tokens_out: int = 0
    requests: int = 0

    @property
    def cost(self) -> float:
        return (self.tokens_in * self.price_in + self.tokens_out * self.price_out) / 1e6 * self.discount

    def add(self, tokens_in: int, tokens_out: int) -> None:
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out

    def check(self) -> None:
        if self.max_cost and self.cost >= self.max_cost:
            raise CostLimitReached(
                f"annotate: cost limit reached (${self.cost:.2f} of annotate.max_cost=${self.max_cost:.2f}); "
                f"every paid rating is cached. Continue with a higher limit, e.g. "
                f"`alignx run annotate --set annotate.max_cost={self.max_cost * 2:g}`"
            )


class CostLimitReached(StageFailed):
    pass


# -- the embedding backend --------------------------------------------------------------------
#: z-score cuts of the embedding annotator: |z| < 0.5 -> 0, < 1.5 -> +-1, else +-2.
EMBEDDING_CUTS = (0.5, 1.5)
WORD = re.compile(r"[A-Za-z]+")


def anchors() -> list[tuple[str, str]]:
    """(label_1 anchor, label_0 anchor) per dimension."""
    custom = tomllib.loads(ANCHORS_FILE.read_text())
    out = []
    for d in load_taxonomy():
        c = custom.get(str(d.index))
        out.append((c["pole1"], c["pole0"]) if c else (f"{d.description}: {d.label_1}", f"{d.description}: {d.label_0}"))
    return out


def text_features(texts: list[str]) -> np.ndarray:
    """Shape (n, 2): mean word length (letters; a readability proxy) and log10 of characters."""
    out = np.zeros((len(texts), 2), dtype=np.float64)
    for i, t in enumerate(texts):
        words = WORD.findall(t)
        out[i, 0] = np.mean([len(w) for w in words]) if words else 0.0
        out[i, 1] = np.log10(1 + len(t))
    return out


#: Feature -> (dimension found by taxonomy words, sign): higher feature = this pole.
FEATURE_DIMENSIONS = (
    ("Degree of concern for the complexity of the statement", 0, +1),  # longer words: more complex
    ("Communication style in social settings: more concise or detailed", 1, -1),  # longer text: detailed (label_0)
)


def embedding_version(calibration: dict | None = None) -> str:
    """The embedding annotator's version: its anchors, the taxonomy and the calibration."""
    calibration = calibration if calibration is not None else json.loads(CALIBRATION_FILE.read_text())
    h = hashlib.sha256(ANCHORS_FILE.read_bytes() + TAXONOMY_FILE.read_bytes()
                       + json.dumps(calibration, sort_keys=True).encode())
    return "e" + h.hexdigest()[:12]


class EmbeddingAnnotator:
    backend = "embedding"

    def __init__(self, model: str, cache_dir: Path | None, calibration: dict | None = None):
        from pipeline.embeddings import EmbeddingCache

        self.model = model
        self.embedder = EmbeddingCache(cache_dir, model)
        self.calibration = calibration if calibration is not None else json.loads(CALIBRATION_FILE.read_text())
        self._anchor_matrix = None

    @property
    def version(self) -> str:
        return embedding_version(self.calibration)

    def raw_scores(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(anchor similarity differences, shape (n, 90); text features, shape (n, 2))."""
        if self._anchor_matrix is None:
            pairs = anchors()
            e1 = self.embedder.encode([a for a, _ in pairs])
            e0 = self.embedder.encode([b for _, b in pairs])
            self._anchor_matrix = (e1 - e0).T  # (dim, 90)
        emb = self.embedder.encode(texts)
        return emb @ self._anchor_matrix, text_features(texts)

    def zscores(self, texts: list[str]) -> np.ndarray:
        sims, feats = self.raw_scores(texts)
        cal = self.calibration
        z = (sims - np.array(cal["sim_mean"])) / np.array(cal["sim_std"])
        fz = (feats - np.array(cal["feature_mean"])) / np.array(cal["feature_std"])
        tax = load_taxonomy()
        for description, col, sign in FEATURE_DIMENSIONS:
            d = next(x.index for x in tax if x.description == description)
            z[:, d] = (z[:, d] + sign * fz[:, col]) / np.sqrt(2)
        return z

    def annotate(self, items: list[Item], keys: list[str], on_result: Callable[[list[Result]], None],
                 spend: Spend, show_progress: bool = True) -> None:
        for start in progress(range(0, len(items), 256), enabled=show_progress, desc="annotate (embedding)",
                              unit="batch"):
            chunk = items[start:start + 256]
            z = self.zscores([it.response for it in chunk])
            ratings = ratings_from_z(z)
            on_result([Result(k, r.tolist()) for k, r in zip(keys[start:start + 256], ratings)])


def ratings_from_z(z: np.ndarray) -> np.ndarray:
    """int8 ratings from z-scores with EMBEDDING_CUTS."""
    low, high = EMBEDDING_CUTS
    mag = np.where(np.abs(z) < low, 0, np.where(np.abs(z) < high, 1, 2))
    return (np.sign(z) * mag).astype(np.int8)


# -- the OpenAI-compatible backends ------------------------------------------------------------
def _request_body(p: dict, item: Item) -> dict:
    return {
        "model": p["model"],
        "messages": [
            {"role": "system", "content": "You annotate preference dimensions. Answer only with the JSON object."},
            {"role": "user", "content": render_prompt(item.post, item.response)},
        ],
        "temperature": p["temperature"],
        "seed": p["sampling_seed"],
        "max_tokens": p["max_output_tokens"],
        "response_format": {"type": "json_schema",
                            "json_schema": {"name": "ratings", "strict": True, "schema": RATINGS_SCHEMA}},
    }


def _parse_answer(content: str | None) -> list[int]:
    if not content:
        raise ValueError("empty answer")
    try:
        obj = json.loads(content)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at char {exc.pos})") from None
    return validate_ratings(obj)


def _client_kwargs(p: dict) -> dict:
    key = os.environ.get(p["api_key_env"])
    if not key and not p["base_url"]:
        raise UserError(f"annotate.backend={p['backend']!r} needs an API key in ${p['api_key_env']} "
                        f"(or annotate.base_url for a local server)")
    return {"base_url": p["base_url"] or None, "api_key": key or "not-needed", "timeout": p["timeout_s"],
            "max_retries": p["max_retries"]}


class OpenAIAnnotator:
    """Chat completions with strict structured output, bounded concurrency, retries.

    Transport errors (429 honouring Retry-After, 5xx, timeouts, connection errors) are retried
    by the openai client with exponential backoff and jitter (``max_retries``). An answer that
    is not valid JSON or breaks the schema is asked again with the error shown to the model,
    up to ``invalid_retries`` times; then the item is recorded as failed with the reason.
    """

    backend = "openai"

    def __init__(self, p: dict):
        self.p = p
        self.model = p["model"]
        self.version = prompt_version()

    async def _one(self, client, sem, item: Item, key: str, spend: Spend) -> Result:
        import openai

        body = _request_body(self.p, item)
        messages = list(body.pop("messages"))
        # passed untyped: the client's recursive transform of a 90-property schema costs ~1.5 ms a request
        body["extra_body"] = {"response_format": body.pop("response_format")}
        result = Result(key)
        async with sem:
            for attempt in range(self.p["invalid_retries"] + 1):
                spend.check()
                try:
                    spend.requests += 1
                    resp = await client.chat.completions.create(messages=messages, **body)
                except openai.APITimeoutError:
                    result.error = "timeout: no answer within annotate.timeout_s after retries"
                    return result
                except openai.RateLimitError as exc:
                    result.error = f"rate_limited: {exc.message}"[:300]
                    return result
                except openai.APIStatusError as exc:
                    result.error = f"http_{exc.status_code}: {exc.message}"[:300]
                    return result
                except openai.APIConnectionError as exc:
                    result.error = f"connection: {exc}"[:300]
                    return result
                except (json.JSONDecodeError, openai.APIResponseValidationError) as exc:  # unparseable body
                    content, err = None, f"the response body is not valid JSON ({exc})"[:300]
                else:
                    usage = resp.usage
                    if usage:
                        result.tokens_in += usage.prompt_tokens or 0
                        result.tokens_out += usage.completion_tokens or 0
                        spend.add(usage.prompt_tokens or 0, usage.completion_tokens or 0)
                    content = resp.choices[0].message.content if resp.choices else None
                    try:
                        result.ratings = _parse_answer(content)
                        result.error = None
                        return result
                    except ValueError as exc:
                        err = str(exc)
                result.error = f"invalid_output: {err}"
                messages = messages + [
                    {"role": "assistant", "content": content or ""},
                    {"role": "user", "content": f"That answer was invalid: {err}. Answer again with only the JSON "
                                                f"object with every key d00..d89, each an integer from -2 to 2."},
                ]
        return result

    async def _run(self, items, keys, on_result, spend, show_progress):
        import openai

        client = openai.AsyncOpenAI(**_client_kwargs(self.p))
        sem = asyncio.Semaphore(self.p["concurrency"])
        tasks = [asyncio.create_task(self._one(client, sem, it, k, spend)) for it, k in zip(items, keys)]
        bar = progress(total=len(tasks), enabled=show_progress, desc=f"annotate ({self.model})", unit="item")
        try:
            for fut in asyncio.as_completed(tasks):
                result = await fut
                on_result([result])
                bar.update(1)
        except BaseException:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            raise
        finally:
            bar.close()
            await client.close()

    def annotate(self, items, keys, on_result, spend, show_progress=True) -> None:
        asyncio.run(self._run(items, keys, on_result, spend, show_progress))


class BatchAnnotator:
    """The OpenAI Batch API: request JSONL -> upload -> batch -> poll -> download -> validate.

    The request file is the format vLLM's ``run_batch`` reads, so self-hosted models serve full
    builds too. Batch ids are kept in ``state_file`` by the request file's hash: an interrupted
    run resumes polling the same batches instead of paying twice. ``custom_id`` is the cache key.
    """

    backend = "openai-batch"

    def __init__(self, p: dict, state_file: Path):
        self.p = p
        self.model = p["model"]
        self.version = prompt_version()
        self.state_file = state_file

    def _state(self) -> dict:
        return json.loads(self.state_file.read_text()) if self.state_file.exists() else {}

    def _save(self, state: dict) -> None:
        from pipeline.io import write_json

        write_json(self.state_file, state)

    def annotate(self, items, keys, on_result, spend, show_progress=True) -> None:
        import openai

        client = openai.OpenAI(**_client_kwargs(self.p))
        lines = [json.dumps({"custom_id": k, "method": "POST", "url": "/v1/chat/completions",
                             "body": _request_body(self.p, it)}, sort_keys=True) for it, k in zip(items, keys)]
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
                        res.ratings = _parse_answer(body["choices"][0]["message"]["content"])
                    except (ValueError, KeyError, IndexError) as exc:
                        res.error = f"invalid_output: {exc}"
                results[res.key] = res
        if batch.error_file_id:
            for line in client.files.content(batch.error_file_id).text.splitlines():
                if line.strip():
                    rec = json.loads(line)
                    err = (rec.get("error") or {}).get("message") or json.dumps(rec.get("response"))[:200]
                    results[rec["custom_id"]] = Result(rec["custom_id"], error=f"batch_error: {err}")
        for k in keys:
            if k not in results:
                results[k] = Result(k, error=f"batch_{batch.status}: no result for this request")
        on_result(list(results.values()))
        state.pop(digest, None)  # done: a later run with new items submits a new batch
        self._save(state)


#: Output tokens of one answer: 90 '"dNN": v' pairs at about 6 tokens each, plus braces.
OUTPUT_TOKENS_PER_ITEM = 545


def estimate(p: dict, data_dir: Path, thread_files: list[Path]) -> dict[str, Any]:
    """Projected requests, tokens and cost of annotating ``thread_files`` (nothing is sent).

    Input tokens are counted as characters / 4 of the rendered prompt (the usual rule of thumb
    for English with OpenAI tokenizers)."""
    import polars as pl

    from stages.annotate import cache_path, make_annotator, make_spend

    annotator = make_annotator(p, data_dir) if p["backend"] != "embedding" else None
    backend = p["backend"]
    model = p["model"] if annotator else p["embedding_model"]
    version = annotator.version if annotator else "n/a"
    cache = RatingCache(cache_path(data_dir))
    items = cached = tokens_in = 0
    for f in thread_files:
        df = pl.read_parquet(f, columns=["prompt", "body"])
        keys = [cache_key(backend, model, version, a, b) for a, b in zip(df["prompt"], df["body"])]
        hit = cache.get_ok(keys)
        for k, post, body in zip(keys, df["prompt"], df["body"]):
            items += 1
            if k in hit:
                cached += 1
            elif annotator:
                tokens_in += len(render_prompt(post, body)) // 4 + 20
    to_send = items - cached if annotator else 0
    spend = make_spend(p)
    spend.add(tokens_in, to_send * OUTPUT_TOKENS_PER_ITEM)
    return {"annotator": f"{backend}:{model}", "items": items, "cached": cached, "to_send": to_send,
            "tokens_in": spend.tokens_in, "tokens_out": spend.tokens_out, "cost_usd": spend.cost}
