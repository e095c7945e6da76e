"""What every annotate backend shares: the rating scale and its validation, the prompt, items and
results, the rating cache and the spend counter.

Scale: per response and dimension a signed intensity in -2..2 (2 = clearly the label_1 pole,
1 = leans to it, -1 / -2 = the label_0 pole) and an evidence level (0 none, 1 weak, 2 strong:
does the text show it at all, and would most careful readers agree). No evidence is the default
and always comes with intensity 0. Stored as two lists of 90 int8, ``ratings`` and ``evidence``.
Every result is cached in sqlite under a hash of (backend, model, annotator version, post,
response); failures are cached with their reason and retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from alignx.taxonomy import N_DIMENSIONS, TAXONOMY_FILE, load_taxonomy
from pipeline.caches import open_sqlite, reading
from pipeline.errors import StageFailed

RESOURCES = Path(__file__).parent / "resources"
PROMPT_FILE = RESOURCES / "annotate_prompt.md"
SCALE = (-2, 2)
KEYS = [f"d{i:02d}" for i in range(N_DIMENSIONS)]
EVIDENCE_LEVELS = ("none", "weak", "strong")  # stored as 0, 1, 2
#: Strict JSON schema of the sparse answer: only the dimensions the text gives evidence for,
#: each with its intensity (never 0), evidence level and a short quote or reason.
RATINGS_SCHEMA = {
    "type": "object",
    "properties": {"ratings": {"type": "array", "items": {
        "type": "object",
        "properties": {
            "dim": {"type": "string", "enum": KEYS},
            "intensity": {"type": "integer", "enum": [-2, -1, 1, 2]},
            "evidence": {"type": "string", "enum": ["weak", "strong"]},
            "quote": {"type": "string"},
        },
        "required": ["dim", "intensity", "evidence", "quote"],
        "additionalProperties": False,
    }}},
    "required": ["ratings"],
    "additionalProperties": False,
}


def validate_ratings(obj: Any) -> tuple[list[int], list[int]]:
    """(ratings, evidence), each 90 ints, from a parsed sparse answer ``{"ratings": [{"dim": "d16",
    "intensity": 2, "evidence": "strong", "quote": "..."}, ...]}``; ValueError says what is wrong
    (unknown or repeated dimension keys, intensities outside -2..2 or 0, unknown evidence levels)."""
    if not isinstance(obj, dict) or set(obj) != {"ratings"} or not isinstance(obj["ratings"], list):
        raise ValueError('expected a JSON object {"ratings": [...]} and nothing else')
    ratings, evidence = [0] * N_DIMENSIONS, [0] * N_DIMENSIONS
    for i, r in enumerate(obj["ratings"]):
        if not isinstance(r, dict):
            raise ValueError(f"ratings[{i}] is not an object")
        dim, value, level = r.get("dim"), r.get("intensity"), r.get("evidence")
        if dim not in KEYS:
            raise ValueError(f"ratings[{i}].dim = {dim!r} is not one of d00..d89")
        d = int(dim[1:])
        if evidence[d]:
            raise ValueError(f"ratings[{i}]: {dim} is listed twice")
        if isinstance(value, bool) or not isinstance(value, int) or not SCALE[0] <= value <= SCALE[1] or value == 0:
            raise ValueError(f"ratings[{i}]: {dim} intensity {value!r} is not one of -2, -1, 1, 2")
        if level not in ("weak", "strong"):
            raise ValueError(f"ratings[{i}]: {dim} evidence {level!r} is not \"weak\" or \"strong\"")
        ratings[d], evidence[d] = value, EVIDENCE_LEVELS.index(level)
    return ratings, evidence


def agree(samples: list[tuple[list[int], list[int]]]) -> tuple[list[int], list[int]]:
    """Self-consistency over n sampled answers: a dimension keeps a rating only where more than
    half of the samples rate it with the same sign; its intensity is the rounded mean of those
    (ties away from zero) and its evidence the lowest level among them."""
    n = len(samples)
    r = np.array([s[0] for s in samples], dtype=np.int16)
    e = np.array([s[1] for s in samples], dtype=np.int16)
    out_r, out_e = np.zeros(N_DIMENSIONS, dtype=np.int16), np.zeros(N_DIMENSIONS, dtype=np.int16)
    for sign in (1, -1):
        hit = (np.sign(r) == sign) & (e > 0)
        keep = hit.sum(axis=0) * 2 > n
        mean = np.where(hit, np.abs(r), 0).sum(axis=0) / np.maximum(hit.sum(axis=0), 1)
        out_r = np.where(keep, sign * np.floor(mean + 0.5), out_r)
        out_e = np.where(keep, np.where(hit, e, 9).min(axis=0), out_e)
    return out_r.astype(int).tolist(), out_e.astype(int).tolist()


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
    evidence: list[int] | None = None  # 90 levels, 0 none / 1 weak / 2 strong
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
        self.path = path
        # WAL without fsync per commit: each answer is committed as it arrives (safe against a
        # killed process, cheap enough for hundreds of answers a second)
        self.db = open_sqlite(path, "PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                              "CREATE TABLE IF NOT EXISTS ratings (key TEXT PRIMARY KEY, ratings TEXT, error TEXT, "
                              "tokens_in INTEGER, tokens_out INTEGER, created REAL)", timeout=60)

    def get_ok(self, keys: list[str]) -> dict[str, tuple[list[int], list[int]]]:
        """key -> (ratings, evidence) of every cached success among ``keys``."""
        out = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = f"SELECT key, ratings FROM ratings WHERE ratings IS NOT NULL AND key IN ({','.join('?' * len(chunk))})"
            with reading(self.path):
                out.update({k: tuple(json.loads(r)) for k, r in self.db.execute(q, chunk)})
        return out

    def tokens(self, keys: list[str]) -> tuple[int, int]:
        """(input, output) tokens the cached successes among ``keys`` cost when they were rated:
        what these ratings needed, however many runs they took to arrive."""
        total_in = total_out = 0
        for i in range(0, len(keys), 500):
            chunk = keys[i:i + 500]
            q = (f"SELECT COALESCE(SUM(tokens_in), 0), COALESCE(SUM(tokens_out), 0) FROM ratings "
                 f"WHERE ratings IS NOT NULL AND key IN ({','.join('?' * len(chunk))})")
            with reading(self.path):
                t_in, t_out = self.db.execute(q, chunk).fetchone()
            total_in, total_out = total_in + t_in, total_out + t_out
        return total_in, total_out

    def put(self, results: list[Result]) -> None:
        with reading(self.path), self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO ratings VALUES (?, ?, ?, ?, ?, ?)",
                [(r.key, json.dumps([r.ratings, r.evidence]) if r.ok else None, r.error, r.tokens_in, r.tokens_out, time.time())
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
