"""What every annotate backend shares: the rating scale and its validation, the prompt, items and
results, the rating cache and the spend counter.

Scale: per response and dimension a signed intensity in -2..2 (2 = clearly the label_1 pole,
1 = leans to it, 0 = neither / not applicable, -1 / -2 = the label_0 pole), stored as 90 int8.
Every result is cached in sqlite under a hash of (backend, model, prompt version, post,
response); failures are cached with their reason and retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from alignx.taxonomy import N_DIMENSIONS, TAXONOMY_FILE, load_taxonomy
from pipeline.errors import StageFailed

RESOURCES = Path(__file__).parent / "resources"
PROMPT_FILE = RESOURCES / "annotate_prompt.md"
SCALE = (-2, 2)
KEYS = [f"d{i:02d}" for i in range(N_DIMENSIONS)]
#: Strict JSON schema: a flat object, every key required, no other keys.
RATINGS_SCHEMA = {
    "type": "object",
    "properties": {k: {"type": "integer", "enum": [-2, -1, 0, 1, 2]} for k in KEYS},
    "required": KEYS,
    "additionalProperties": False,
}


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
