"""The offline annotator (default backend ``embedding``): one validated instrument per group of
dimensions, abstaining everywhere else.

Instruments (features, shape (n,) each, computed for a batch of texts at once):

- ``words``: the comment's word count (polars regex count, vectorized) -> concise/detailed (16),
  depth of interaction (14);
- ``compound``, ``neg``, ``pos``: VADER sentiment (vaderSentiment; a lexicon and rule instrument
  validated on social-media text) -> agreeableness (5), conflict (15), aggression (34) when the
  reference set shows it agrees;
- ``grade``: Flesch-Kincaid grade level (textstat) -> complexity (46), in the AlignX sense of
  the response's own complexity (P-SOUPS student / PhD);
- ``topic_<d>``: cosine similarity of the comment's sentence embedding (all-MiniLM-L6-v2, cached)
  to a rich description of interest ``d`` (``resources/interest_topics.toml``), minus the text's
  mean similarity over the 43 topics -> interests;
  only the ``max_interests`` (config ``annotate.offline_max_interests``) most similar topics
  above their thresholds count, so a comment
  touches few interests.

A rule (``resources/offline_calibration.json``, written by
``scripts/fit_offline_calibration.py`` from the reference set's **dev** split only) says, for
one dimension: feature, comparison (``>=`` or ``<=``), sign, a threshold for intensity 1
(evidence ``weak``) and optionally one for intensity 2 (evidence ``strong``). A dimension with no
rule is never rated (evidence none, intensity 0): the dataset card lists them.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from typing import Callable

import numpy as np
import polars as pl

from alignx.taxonomy import TAXONOMY_FILE
from pipeline.logs import progress
from stages.annotate.ratings import RESOURCES, Item, Result, Spend

TOPICS_FILE = RESOURCES / "interest_topics.toml"
CALIBRATION_FILE = RESOURCES / "offline_calibration.json"
BATCH = 512


def topics() -> dict[int, str]:
    """Interest dimension -> topic description."""
    return {int(k): v for k, v in tomllib.loads(TOPICS_FILE.read_text()).items()}


def embedding_version(max_interests: int, calibration: dict | None = None) -> str:
    """The offline annotator's version: its topic descriptions, the taxonomy, the rules and
    ``max_interests``."""
    calibration = calibration if calibration is not None else json.loads(CALIBRATION_FILE.read_text())
    h = hashlib.sha256(TOPICS_FILE.read_bytes() + TAXONOMY_FILE.read_bytes()
                       + json.dumps([calibration, max_interests], sort_keys=True).encode())
    return "o" + h.hexdigest()[:12]


def surface_features(texts: list[str]) -> dict[str, np.ndarray]:
    """``words``, ``compound``, ``neg``, ``pos``, ``grade``: each shape (n,), float64."""
    import textstat

    analyzer = _vader()
    words = pl.Series(texts, dtype=pl.String).str.count_matches(r"\w+").to_numpy().astype(np.float64)
    scores = [analyzer.polarity_scores(t) for t in texts]  # VADER rates one text a call
    return {
        "words": words,
        "compound": np.array([s["compound"] for s in scores]),
        "neg": np.array([s["neg"] for s in scores]),
        "pos": np.array([s["pos"] for s in scores]),
        # textstat grades one text a call; an empty text has grade 0
        "grade": np.array([textstat.flesch_kincaid_grade(t) if t.strip() else 0.0 for t in texts]),
    }


_ANALYZER = None


def _vader():
    global _ANALYZER
    if _ANALYZER is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        _ANALYZER = SentimentIntensityAnalyzer()
    return _ANALYZER


def apply_rules(features: dict[str, np.ndarray], rules: list[dict], n: int, max_interests: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(ratings, evidence), each shape (n, 90) int8, from ``features`` and the calibrated rules.

    Interest rules (feature ``topic_<d>``) compete: per text only the ``max_interests`` topics with
    the largest similarity among those past their threshold keep their rating."""
    ratings = np.zeros((n, 90), dtype=np.int8)
    evidence = np.zeros((n, 90), dtype=np.int8)
    topic_score = np.full((n, 90), -np.inf)
    for r in rules:
        x = features[r["feature"]]
        past = (lambda t: x >= t) if r["op"] == ">=" else (lambda t: x <= t)
        level = past(r["t1"]).astype(np.int8)
        if r.get("t2") is not None:
            level = level + past(r["t2"]).astype(np.int8)
        d = r["dimension"]
        # a dimension may have one rule per pole; their ranges never overlap (the fitter checks)
        ratings[:, d] = np.where(level > 0, r["sign"] * level, ratings[:, d])
        evidence[:, d] = np.where(level > 0, level, evidence[:, d])  # 1 = weak, 2 = strong
        if r["feature"].startswith("topic_"):
            topic_score[:, d] = np.where(level > 0, x, -np.inf)
    if max_interests >= 0:
        # keep the max_interests best topics per text; the rest lose their rating
        order = np.argsort(-topic_score, axis=1, kind="stable")
        drop = np.zeros_like(topic_score, dtype=bool)
        np.put_along_axis(drop, order[:, max_interests:], True, axis=1)
        drop &= np.isfinite(topic_score)
        ratings[drop] = 0
        evidence[drop] = 0
    return ratings, evidence


class EmbeddingAnnotator:
    """Rates texts with the instruments above; see the module docstring."""

    backend = "embedding"

    def __init__(self, model: str, cache_dir, max_interests: int = 2, calibration: dict | None = None):
        from alignx.embeddings import EmbeddingCache

        self.model = model
        self.max_interests = max_interests
        self.embedder = EmbeddingCache(cache_dir, model)
        self.calibration = calibration if calibration is not None else json.loads(CALIBRATION_FILE.read_text())
        self._topics = None

    @property
    def version(self) -> str:
        return embedding_version(self.max_interests, self.calibration)

    def features(self, texts: list[str]) -> dict[str, np.ndarray]:
        """Every feature a rule may name, each shape (len(texts),)."""
        out = surface_features(texts)
        if self._topics is None:
            t = topics()
            self._topics = (list(t), self.embedder.encode(list(t.values())))
        dims, matrix = self._topics
        sims = self.embedder.encode(texts) @ matrix.T if texts else np.zeros((0, len(dims)))
        # relative to the text's mean similarity over all topics: a long or generic text is close
        # to every topic, and only what stands out from that says which topic it is about
        rel = sims - sims.mean(axis=1, keepdims=True) if len(texts) else sims
        out.update({f"topic_{d}": rel[:, j].astype(np.float64) for j, d in enumerate(dims)})
        return out

    def rate(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ratings -2..2, evidence 0 none / 1 weak / 2 strong), each shape (len(texts), 90) int8."""
        return apply_rules(self.features(texts), self.calibration["rules"], len(texts), self.max_interests)

    def annotate(self, items: list[Item], keys: list[str], on_result: Callable[[list[Result]], None],
                 spend: Spend, show_progress: bool = True) -> None:
        for start in progress(range(0, len(items), BATCH), enabled=show_progress, desc="annotate (offline)",
                              unit="batch"):
            chunk = items[start:start + BATCH]
            ratings, evidence = self.rate([it.response for it in chunk])
            on_result([Result(k, r.tolist(), e.tolist())
                       for k, r, e in zip(keys[start:start + BATCH], ratings, evidence)])

