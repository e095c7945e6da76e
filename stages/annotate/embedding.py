"""The offline annotator (default backend ``embedding``): all-MiniLM-L6-v2 similarity to two
anchor sentences per dimension, plus readability and length features for complexity and
concise/detailed, z-scored with calibration constants shipped in ``resources/``."""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from pathlib import Path
from typing import Callable

import numpy as np

from alignx.taxonomy import TAXONOMY_FILE, load_taxonomy
from pipeline.logs import progress
from stages.annotate.ratings import RESOURCES, Item, Result, Spend

ANCHORS_FILE = RESOURCES / "embedding_anchors.toml"
CALIBRATION_FILE = RESOURCES / "embedding_calibration.json"

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
        from alignx.embeddings import EmbeddingCache

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
