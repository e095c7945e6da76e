"""What every annotate backend shares: the rating scale and its validation, the prompt, items and
results, the rating cache and the spend counter.

Scale: per response and dimension a signed intensity in -2..2 (2 = clearly the label_1 pole,
1 = leans to it, -1 / -2 = the label_0 pole) and an evidence level (0 none, 1 weak, 2 strong:
does the text show it at all, and would most careful readers agree). No evidence is the default
and always comes with intensity 0. Stored as two lists of 90 int8, ``ratings`` and ``evidence``.
The LLM backends ask for it in a compact sparse form, one code per dimension with evidence
("d16+2s": key, intensity, s strong / w weak), several comments per request behind one shared
instruction prefix. Every result is cached in sqlite under a hash of (backend, model, annotator
version, post, response); failures are cached with their reason and retried on the next run.
"""

from __future__ import annotations

import hashlib
import json
import re
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
#: One rating in an answer: the dimension's key, the signed intensity, the evidence (s strong,
#: w weak), e.g. "d16+2s". Only dimensions with evidence are listed (the answer is sparse), in
#: about 6 tokens each.
CODE_PATTERN = "^d[0-8][0-9][+-][12][ws]$"
_LOOSE_CODE = re.compile(r"d(\d+)([+-]?\d+)([a-z]*)")
#: Strict JSON schema of the answer to one request: every comment of the request by its number
#: (1..k), with the codes of the dimensions it gives evidence for.
ANSWER_SCHEMA = {
    "type": "object",
    "properties": {"items": {"type": "array", "items": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "r": {"type": "array", "items": {"type": "string", "pattern": CODE_PATTERN}},
        },
        "required": ["id", "r"],
        "additionalProperties": False,
    }}},
    "required": ["items"],
    "additionalProperties": False,
}


def validate_codes(codes: Any) -> tuple[list[int], list[int]]:
    """(ratings, evidence), each 90 ints, from one comment's list of codes (``["d16+2s",
    "d73-1w"]``); ValueError says what is wrong (not a list, not a code, an unknown or repeated
    dimension, an intensity outside -2..2 or 0, an evidence other than s or w)."""
    if not isinstance(codes, list):
        raise ValueError('"r" is not a list of codes')
    ratings, evidence = [0] * N_DIMENSIONS, [0] * N_DIMENSIONS
    for j, c in enumerate(codes):
        m = _LOOSE_CODE.fullmatch(c) if isinstance(c, str) else None
        if m is None:
            raise ValueError(f'r[{j}] = {c!r} is not a code like "d16+2s"')
        if len(m[1]) != 2 or int(m[1]) >= N_DIMENSIONS:
            raise ValueError(f"r[{j}] = {c!r}: d{m[1]} is not one of d00..d89")
        d, value = int(m[1]), int(m[2])
        if m[2][0] not in "+-" or value not in (-2, -1, 1, 2):
            raise ValueError(f"r[{j}] = {c!r}: intensity {m[2]} is not one of +2, +1, -1, -2")
        if m[3] not in ("s", "w"):
            raise ValueError(f"r[{j}] = {c!r}: evidence {m[3]!r} is not s or w")
        if evidence[d]:
            raise ValueError(f"r[{j}]: d{d:02d} is listed twice")
        ratings[d], evidence[d] = value, 2 if m[3] == "s" else 1
    return ratings, evidence


def to_codes(ratings: list[int], evidence: list[int]) -> list[str]:
    """The codes of a rating (its dimensions with evidence): ``validate_codes``'s inverse."""
    return [f"d{d:02d}{r:+d}{'s' if e == 2 else 'w'}" for d, (r, e) in enumerate(zip(ratings, evidence)) if e]


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
#: How the comments of a request are laid out (``render_items``); part of the prompt's version.
ITEMS_LAYOUT = "posts-then-numbered-comments-1"


@lru_cache(maxsize=1)
def instructions() -> str:
    """The shared instruction prefix of every request (the system message): the scale, the 90
    dimensions and the answer format. The same bytes in every request, so providers that cache
    prompt prefixes bill it once per cache lifetime, not once per comment."""
    lines = "\n".join(f"d{d.index:02d}: {d.description} | {d.label_1} | {d.label_0}" for d in load_taxonomy())
    return PROMPT_FILE.read_text().replace("{dimensions}", lines)


def render_items(items: list["Item"]) -> str:
    """The user message of one request: each distinct post once (in the order they first
    appear), followed by its comments, numbered 1..k in the order of ``items``, which keeps a
    post's comments together (``llm.plan_requests``)."""
    posts: dict[str, list[int]] = {}
    for i, it in enumerate(items):
        posts.setdefault(it.post, []).append(i)
    parts = []
    for j, (post, idx) in enumerate(posts.items(), 1):
        parts.append(f"Post {j}:\n<<<\n{post}\n>>>")
        parts += [f"Comment {i + 1} (answers post {j}):\n<<<\n{items[i].response}\n>>>" for i in idx]
    return "\n\n".join(parts)


def prompt_version() -> str:
    """Changes whenever the prompt file, the taxonomy, the answer schema or the layout changes."""
    h = hashlib.sha256(PROMPT_FILE.read_bytes() + TAXONOMY_FILE.read_bytes()
                       + json.dumps([ANSWER_SCHEMA, ITEMS_LAYOUT], sort_keys=True).encode())
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
    retried_alone: int = 0  # comments asked again in a request of their own (their entry was bad)

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
