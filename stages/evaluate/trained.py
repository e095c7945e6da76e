"""Predictor ``trained``: does the release teach personalization?

A logistic head over frozen sentence embeddings (``alignx.embeddings``, all-MiniLM-L6-v2 by
default), fitted on the release's train split, scores a response for a user; its twin
``no-persona`` is the same head fitted with the persona removed. The gap between the two on
held-out data is what the persona adds.

Features of an example, all from L2-normalised embeddings of dimension D (384):
    d = emb(chosen) - emb(rejected)            (D,)   the response difference
    q = emb(prompt)                            (D,)
    u = mean emb of the UGC comments           (D,)   zeros when absent
    p = mean of emb(chosen) - emb(rejected) over the PAIR items   (D,)   zeros when absent
    m = emb(Demographic Information)           (D,)   zeros when absent
    x = [d, s*d*q, s*d*u, s*d*p, s*d*m]        (5D,)  persona head, s = sqrt(D)
    x = [d, s*d*q]                             (2D,)  no-persona head
The score is w . x: linear in d, so swapping the responses flips its sign (no position term).
Training sees each example as (x, 1) and (-x, 0), and each Reddit example once per persona
type (UGC only, PAIR only, DEMO only, all), as the test split presents them.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.caches import reading
from pipeline.errors import UserError
from stages.evaluate.predictors import PAIR, UGC, demo_text

#: Bump when the features or the fit change: the cache key includes it.
FEATURES_VERSION = "2"
PERSONA_VIEWS = ("ugc", "pair", "demo", "all")


def texts_of(examples: list[dict]) -> list[str]:
    """Every text the features need, each once."""
    out: dict[str, None] = {}
    for e in examples:
        for t in (e["prompt"], e["chosen"], e["rejected"], demo_text(e)):
            out[t] = None
        for x in e.get(UGC) or []:
            out[x["comment"]] = None
        for x in e.get(PAIR) or []:
            out[x["chosen"]] = None
            out[x["rejected"]] = None
    out.pop("", None)
    return list(out)


def features(examples: list[dict], persona: str, vec: dict[str, np.ndarray], with_persona: bool) -> np.ndarray:
    """Shape (n, 5D) with the persona, (n, 2D) without; ``persona`` picks which signals are read."""
    dim = len(next(iter(vec.values()))) if vec else 384
    zero = np.zeros(dim, dtype=np.float32)
    # unit vectors have coordinates of size ~1/sqrt(D): scaled by sqrt(D), the interaction blocks
    # are as large as d, so the L2 penalty does not silence the persona (and prompt) terms
    scale = np.float32(np.sqrt(dim))
    rows = []
    for e in examples:
        d = vec[e["chosen"]] - vec[e["rejected"]]
        parts = [d, d * scale * vec.get(e["prompt"], zero)]
        if with_persona:
            ugc = (e.get(UGC) or []) if persona in ("ugc", "all") else []
            pair = (e.get(PAIR) or []) if persona in ("pair", "all") else []
            demo = demo_text(e) if persona in ("demo", "all") else ""
            u = np.mean([vec[x["comment"]] for x in ugc], axis=0) if len(ugc) else zero
            p = np.mean([vec[x["chosen"]] - vec[x["rejected"]] for x in pair], axis=0) if len(pair) else zero
            m = vec[demo] if demo else zero
            parts += [d * scale * u, d * scale * p, d * scale * m]
        rows.append(np.concatenate(parts))
    return np.stack(rows).astype(np.float32) if rows else np.zeros((0, dim * (5 if with_persona else 2)), np.float32)


def embed(examples: list[dict], embedder) -> dict[str, np.ndarray]:
    texts = texts_of(examples)
    return dict(zip(texts, embedder.encode(texts))) if texts else {}


def release_checksum(files: list[Path]) -> str:
    """sha256 over the train shards' bytes, in name order: the key the heads are cached by."""
    h = hashlib.sha256()
    for f in sorted(files, key=lambda f: f.name):
        h.update(f.name.encode())
        h.update(Path(f).read_bytes())
    return h.hexdigest()


@dataclass
class Heads:
    """Both fitted heads and what they were fitted on (saved beside every report)."""

    persona: np.ndarray  # (5D,) weights
    no_persona: np.ndarray  # (2D,) weights
    meta: dict = field(default_factory=dict)

    def save(self, folder: Path) -> None:
        """``trained_head.npz`` (weights) and ``trained_head.json`` (how they were made), atomically."""
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / ".trained_head.tmp.npz"
        with open(tmp, "wb") as fh:
            np.savez(fh, persona=self.persona, no_persona=self.no_persona)
        tmp.replace(folder / "trained_head.npz")
        tmp = folder / ".trained_head.json.tmp"
        tmp.write_text(json.dumps(self.meta, indent=2, sort_keys=True) + "\n")
        tmp.replace(folder / "trained_head.json")

    @classmethod
    def load(cls, folder: Path) -> "Heads":
        with reading(folder, what="a cached fitted head, remade on demand"):
            arrays = np.load(folder / "trained_head.npz")
            return cls(arrays["persona"], arrays["no_persona"], json.loads((folder / "trained_head.json").read_text()))


def training_views(examples: list[dict], max_examples: int, seed: int) -> list[tuple[dict, str]]:
    """(example, persona type) pairs to fit on: each example with a persona once per view, the
    rest (alignment pairs) once as "all"; at most ``max_examples`` examples, sampled with the seed."""
    if len(examples) > max_examples:
        keep = np.sort(np.random.default_rng(seed).choice(len(examples), max_examples, replace=False))
        examples = [examples[i] for i in keep]
    out = []
    for e in examples:
        has = e.get(UGC) or e.get(PAIR) or demo_text(e)
        out += [(e, v) for v in PERSONA_VIEWS] if has else [(e, "all")]
    return out


def fit_head(x: np.ndarray, c: float, seed: int) -> np.ndarray:
    """Logistic weights (F,), no intercept, from rows x (n, F) all labelled 'chosen wins'."""
    from sklearn.linear_model import LogisticRegression

    xs = np.concatenate([x, -x])
    ys = np.concatenate([np.ones(len(x)), np.zeros(len(x))])
    model = LogisticRegression(C=c, fit_intercept=False, max_iter=2000, random_state=seed)
    model.fit(xs, ys)
    return model.coef_[0].astype(np.float32)


def fit_heads(train: list[dict], embedder, *, c: float, max_examples: int, seed: int, checksum: str) -> Heads:
    """Fit the persona head and the no-persona head on the same train views."""
    if not train:
        raise UserError("predictor trained: the release's train split is empty; nothing to fit")
    start = time.perf_counter()
    vec = embed(train, embedder)
    embedded = time.perf_counter()
    views = training_views(train, max_examples, seed)
    by_view: dict[str, list[dict]] = {}
    for e, v in views:
        by_view.setdefault(v, []).append(e)
    x_p = np.concatenate([features(rows, v, vec, True) for v, rows in by_view.items()])
    x_n = np.concatenate([features(rows, v, vec, False) for v, rows in by_view.items()])
    heads = Heads(fit_head(x_p, c, seed), fit_head(x_n, c, seed))
    done = time.perf_counter()
    heads.meta = {
        "release_train_sha256": checksum, "embedding_model": getattr(embedder, "model_name", "?"),
        "features_version": FEATURES_VERSION,
        "features": "[d, s*d*q, s*d*u, s*d*p, s*d*m] persona, [d, s*d*q] no-persona, s = sqrt(D) "
                    "(see stages/evaluate/trained.py)",
        "head": "logistic regression, no intercept, L2", "C": c, "seed": seed,
        "train_examples": len(train), "train_views": len(views), "embed_seconds": round(embedded - start, 2),
        "fit_seconds": round(done - embedded, 2), "usage": "score = weights . features(example); > 0 prefers chosen",
    }
    return heads


def load_or_fit(train_files: list[Path], load_rows, embedder, cache_dir: Path | None, *, c: float,
                max_examples: int, seed: int) -> Heads:
    """Heads for this train split, from ``cache_dir/trained/<key>/`` (cache_dir: data/cache) when fitted before."""
    checksum = release_checksum(train_files)
    key = hashlib.sha256(json.dumps([checksum, getattr(embedder, "model_name", "?"), FEATURES_VERSION, c,
                                     max_examples, seed]).encode()).hexdigest()[:24]
    folder = None if cache_dir is None else Path(cache_dir) / "trained" / key
    if folder is not None and (folder / "trained_head.json").exists():
        heads = Heads.load(folder)
        heads.meta["cached"] = True
        return heads
    heads = fit_heads(load_rows(train_files), embedder, c=c, max_examples=max_examples, seed=seed, checksum=checksum)
    if folder is not None:
        heads.save(folder)
    return heads


class TrainedPredictor:
    """``trained`` (with the persona) or ``no-persona`` (its ablation): w . features > 0 prefers chosen."""

    def __init__(self, heads: Heads, embedder, with_persona: bool):
        self.heads, self.embedder, self.with_persona = heads, embedder, with_persona
        self.name = "trained" if with_persona else "no-persona"

    def scores(self, examples, persona):
        vec = embed(examples, self.embedder)
        w = self.heads.persona if self.with_persona else self.heads.no_persona
        return features(examples, persona, vec, self.with_persona) @ w
