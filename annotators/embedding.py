"""The offline annotator (default backend ``embedding``): one validated instrument per group of
dimensions, abstaining everywhere else. Every instrument is vectorized or a fast lexicon: over 500
comments a second on 2 cores (bench/results/annotator_validity.json, ``throughput``).

Instruments (features, shape (n,) each, computed for a batch of texts at once):

- ``words``: the comment's word count (polars regex count) -> concise/detailed (16), depth of
  interaction (14);
- ``compound``, ``neg``, ``pos``: VADER sentiment (vaderSentiment; a lexicon and rule instrument
  validated on social-media text) -> conflict (15) and neighbours when the reference set agrees;
- ``grade``, ``syllables_per_word``, ``words_per_sentence``: Flesch-Kincaid grade level and its
  inputs, computed vectorized over the batch (polars regex counts of letter-only words, vowel
  groups and sentences; links removed) -> complexity (46), in the AlignX sense of the response's
  own complexity (P-SOUPS student / PhD); pairs compare a formula refitted on the inputs
  (alignx/directions.py rule 3);
- ``lex_<name>``: match counts of the word lists of ``resources/lexicons.toml`` (one per
  interest 47-89, and lists of acts: insults, courtesy, disagreement, fact-checking, ...);
- ``topic_<d>``: cosine similarity of the comment's static sentence embedding (the configured
  model, default all-MiniLM-L6-v2-static, cached) to a rich description of interest ``d``
  (``resources/interest_topics.toml``), minus the text's mean similarity over the 43 topics;
  ``lextopic_<d>``: the same where the text names the topic (``lex_<d>`` >= 1), else -1;
  only the ``max_interests`` (config ``annotate.offline_max_interests``) strongest interests
  past their thresholds count, so a comment touches few interests.

A rule (``resources/offline_calibration.json``, written by
``scripts/fit_offline_calibration.py`` from the reference set's **dev** split only) says, for
one dimension: feature, comparison (``>=`` or ``<=``), sign, a threshold for intensity 1
(evidence ``weak``) and optionally one for intensity 2 (evidence ``strong``). A dimension with no
rule is never rated (evidence none, intensity 0): the dataset card lists them.
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl

from alignx.taxonomy import TAXONOMY_FILE
from pipeline.logs import progress
from annotators import measures as measures_module
from annotators.measures import URL, readability
from annotators.ratings import RESOURCES, Item, Result, Spend

TOPICS_FILE = RESOURCES / "interest_topics.toml"
CALIBRATION_FILE = RESOURCES / "offline_calibration.json"
LEXICONS_FILE = RESOURCES / "lexicons.toml"
QUOTE = r"(?m)^[ \t]*(?:>|&gt;).*$"  # a quoted line of markdown
BATCH = 512


def topics() -> dict[int, str]:
    """Interest dimension -> topic description."""
    return {int(k): v for k, v in tomllib.loads(TOPICS_FILE.read_text()).items()}


def embedding_version(max_interests: int, calibration: dict | None = None) -> str:
    """The offline annotator's version: its code (this module: the instruments), topic
    descriptions, lexicons, the taxonomy, the rules and ``max_interests``. Ratings are cached
    under it, so any change to one of them rates again."""
    from annotators import learned

    calibration = calibration if calibration is not None else json.loads(CALIBRATION_FILE.read_text())
    h = hashlib.sha256(Path(__file__).read_bytes() + Path(measures_module.__file__).read_bytes()  # readability
                       + TOPICS_FILE.read_bytes() + LEXICONS_FILE.read_bytes()
                       + TAXONOMY_FILE.read_bytes() + Path(learned.__file__).read_bytes()
                       + json.dumps([calibration, max_interests, learned.version()], sort_keys=True).encode())
    return "o" + h.hexdigest()[:12]


def _lexicon_pattern(entry: str) -> str:
    """One lexicon entry as a regex: whole words, case folded by the caller, a trailing ``*``
    matching any word ending, words of a phrase separated by any whitespace."""
    star = entry.endswith("*")
    body = entry.rstrip("*")
    regex = r"\s+".join(re.escape(w) for w in body.split())
    head = r"\b" if re.match(r"\w", body[0]) else ""
    tail = (r"\w*" if star else "") + (r"\b" if re.match(r"\w", body[-1]) else "")
    return head + regex + tail


@lru_cache(maxsize=1)
def lexicons() -> dict[str, list[str]]:
    """Lexicon name (a dimension index or a name) -> its regexes, case-insensitive: one for the
    ASCII entries in ASCII mode (Unicode word boundaries make the regex engine six times slower),
    one for the others (emoji, accents) when there are any. A text's count is the sum."""
    out = {}
    for name, entries in tomllib.loads(LEXICONS_FILE.read_text()).items():
        ascii_entries = [e for e in entries if e.isascii()]
        other = [e for e in entries if not e.isascii()]
        out[str(name)] = ["(?i-u)(?:" + "|".join(_lexicon_pattern(e) for e in ascii_entries) + ")"] + (
            ["(?i)(?:" + "|".join(_lexicon_pattern(e) for e in other) + ")"] if other else [])
    return out


def surface_features(texts: list[str]) -> dict[str, np.ndarray]:
    """``words``, ``links``, ``compound``, ``neg``, ``pos``, ``grade``, ``syllables_per_word``,
    ``words_per_sentence`` and one ``lex_<name>`` per lexicon (match counts, quoted lines and links left out): each shape
    (n,), float64."""
    analyzer = _vader()
    series = pl.Series(texts, dtype=pl.String)
    words = series.str.count_matches(r"\w+").to_numpy().astype(np.float64)
    scores = [analyzer.polarity_scores(t) for t in texts]  # VADER rates one text a call
    out = {
        "words": words,
        # links in the text: a cited source (truthfulness 43)
        "links": series.str.count_matches(URL).to_numpy().astype(np.float64),
        "compound": np.array([s["compound"] for s in scores], dtype=np.float64),
        "neg": np.array([s["neg"] for s in scores], dtype=np.float64),
        "pos": np.array([s["pos"] for s in scores], dtype=np.float64),
        **readability(series),
    }
    # a word inside a link is not the text's word, and a quoted line ("> ...") is the other
    # person's (docs/annotation_guidelines.md, rule 2: quotes are no evidence about the author)
    prose = series.str.replace_all(QUOTE, "").str.replace_all(URL, " ")
    for name, regexes in lexicons().items():
        out[f"lex_{name}"] = sum(prose.str.count_matches(r).to_numpy().astype(np.float64) for r in regexes)
    return out


_ANALYZER = None


def _vader():
    """VADER with its scores unchanged, in linear time. VADER's negation and idiom checks
    lower-case the text's whole word list for every sentiment word (quadratic in the text's
    length: most of its time on long comments), yet read only the words from i - 3 to i + 2;
    they are handed that window instead (tests/stages/test_annotate.py compares the scores with
    the library's on real comments)."""
    global _ANALYZER
    if _ANALYZER is None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        class WindowedVader(SentimentIntensityAnalyzer):
            @staticmethod
            def _negation_check(valence, words_and_emoticons, start_i, i):
                lo = max(0, i - 3)  # callers guarantee i > start_i: the checks read i - start_i - 1 .. i
                return SentimentIntensityAnalyzer._negation_check(valence, words_and_emoticons[lo:i + 1], start_i,
                                                                  i - lo)

            @staticmethod
            def _special_idioms_check(valence, words_and_emoticons, i):
                lo = max(0, i - 3)  # called with i >= 3; reads i - 3 .. i + 2
                return SentimentIntensityAnalyzer._special_idioms_check(valence, words_and_emoticons[lo:i + 3],
                                                                        i - lo)

        _ANALYZER = WindowedVader()
    return _ANALYZER


def apply_rules(features: dict[str, np.ndarray], rules: list[dict], n: int, max_interests: int
                ) -> tuple[np.ndarray, np.ndarray]:
    """(ratings, evidence), each shape (n, 90) int8, from ``features`` and the calibrated rules.

    Interest rules (dimensions 47-89, whatever their feature) compete: per text only the
    ``max_interests`` interests past their threshold with the largest topic similarity
    (``topic_<d>``, one scale for all of them) keep their rating."""
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
        if 47 <= d <= 89:  # an interest
            topic_score[:, d] = np.where(level > 0, features.get(f"topic_{d}", x), -np.inf)
    if max_interests >= 0:
        # keep the max_interests best topics per text; the rest lose their rating
        order = np.argsort(-topic_score, axis=1, kind="stable")
        drop = np.zeros_like(topic_score, dtype=bool)
        np.put_along_axis(drop, order[:, max_interests:], True, axis=1)
        drop &= np.isfinite(topic_score)
        ratings[drop] = 0
        evidence[drop] = 0
    return ratings, evidence


def keep_interests(ratings: np.ndarray, evidence: np.ndarray, score: np.ndarray, max_interests: int) -> None:
    """In place: per text, only the ``max_interests`` rated interests (47-89) with the highest
    ``score`` keep their rating (a comment is about a few topics, not ten)."""
    if max_interests < 0:
        return
    s = np.where(np.isfinite(score[:, 47:90]), score[:, 47:90], -np.inf)
    order = np.argsort(-s, axis=1, kind="stable")
    drop = np.zeros_like(s, dtype=bool)
    np.put_along_axis(drop, order[:, max_interests:], True, axis=1)
    drop &= np.isfinite(s)
    ratings[:, 47:90][drop] = 0
    evidence[:, 47:90][drop] = 0


class EmbeddingAnnotator:
    """Rates texts with the instruments above; see the module docstring. Backend ``embedding``:
    offline and free; the only backend that computes raw measures (annotators/measures.py)."""

    backend = "embedding"
    sends_requests = False

    @classmethod
    def create(cls, p: dict, data_dir: Path) -> "EmbeddingAnnotator":
        return cls(p["embedding_model"], data_dir / "cache" / "embeddings", max_interests=p["offline_max_interests"])

    @classmethod
    def model_of(cls, p: dict) -> str:
        return p["embedding_model"]

    @classmethod
    def fingerprint(cls, p: dict) -> dict[str, str]:
        return {"annotator_version": embedding_version(p["offline_max_interests"]),
                "measures": measures_module.measures_version()}

    @classmethod
    def spend(cls, p: dict) -> Spend:
        return Spend(price_in=0.0, price_out=0.0, max_cost=p["max_cost"])

    @classmethod
    def where(cls, p: dict) -> str:
        return f"with the embedding model {p['embedding_model']}"

    @classmethod
    def measures(cls, texts: list[str]) -> np.ndarray:
        return measures_module.raw_measures(texts)

    @classmethod
    def ruled_dimensions(cls) -> list[int]:
        from annotators.learned import LearnedModel

        model = LearnedModel.load()
        return sorted({r["dimension"] for r in json.loads(CALIBRATION_FILE.read_text())["rules"]}
                      | set(model.dims if model else []))

    def __init__(self, model: str, cache_dir, max_interests: int = 2, calibration: dict | None = None,
                 learned: bool = True):
        from alignx.embeddings import EmbeddingCache
        from annotators.learned import LearnedModel

        self.model = model
        self.max_interests = max_interests
        self.embedder = EmbeddingCache(cache_dir, model)
        self.calibration = calibration if calibration is not None else json.loads(CALIBRATION_FILE.read_text())
        # the learned instrument (annotators/learned.py) rates the dimensions it validated for on
        # dev; the rules keep the others. learned=False: the rules alone (what its fitter compares with)
        self.learned = LearnedModel.load() if learned else None
        if self.learned is not None and self.learned.meta["model"] != model:
            self.learned = None  # it reads the embeddings it was fitted on: with another model, the rules alone
        self._topics = None

    @property
    def version(self) -> str:
        return embedding_version(self.max_interests, self.calibration) + ("" if self.learned else "-rules")

    def features(self, texts: list[str], embeddings: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every feature a rule may name, each shape (len(texts),). ``embeddings``: the texts'
        sentence embeddings when already computed."""
        out = surface_features(texts)
        if self._topics is None:
            t = topics()
            self._topics = (list(t), self.embedder.encode(list(t.values())))
        dims, matrix = self._topics
        if embeddings is None:
            embeddings = self.embedder.encode(texts) if texts else np.zeros((0, matrix.shape[1]))
        sims = embeddings @ matrix.T if texts else np.zeros((0, len(dims)))
        # relative to the text's mean similarity over all topics: a long or generic text is close
        # to every topic, and only what stands out from that says which topic it is about
        rel = sims - sims.mean(axis=1, keepdims=True) if len(texts) else sims
        out.update({f"topic_{d}": rel[:, j].astype(np.float64) for j, d in enumerate(dims)})
        # a topic's similarity where the text also names the topic (one of its lexicon's words),
        # else -1 (below every threshold): the lexicon says the topic is there, the embedding
        # that it is what the text is about
        out.update({f"lextopic_{d}": np.where(out[f"lex_{d}"] >= 1, out[f"topic_{d}"], -1.0) for d in dims})
        return out

    def rate(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """(ratings -2..2, evidence 0 none / 1 weak / 2 strong), each shape (len(texts), 90) int8:
        the learned instrument on its dimensions, the rules on the others."""
        if not texts:
            return np.zeros((0, 90), dtype=np.int8), np.zeros((0, 90), dtype=np.int8)
        embeddings = self.embedder.encode(texts)
        feats = self.features(texts, embeddings)
        if self.learned is None:
            return apply_rules(feats, self.calibration["rules"], len(texts), self.max_interests)
        owned = set(self.learned.dims)
        rules = [r for r in self.calibration["rules"] if r["dimension"] not in owned]
        ratings, evidence = apply_rules(feats, rules, len(texts), self.max_interests)
        from annotators.learned import feature_matrix

        lr, le, score = self.learned.rate(feature_matrix(feats, embeddings, self.learned.names))
        keep_interests(lr, le, score, self.max_interests)
        cols = self.learned.dims
        ratings[:, cols], evidence[:, cols] = lr[:, cols], le[:, cols]
        return ratings, evidence

    def annotate(self, items: list[Item], keys: list[str], on_result: Callable[[list[Result]], None],
                 spend: Spend, show_progress: bool = True) -> None:
        for start in progress(range(0, len(items), BATCH), enabled=show_progress, desc="annotate (offline)",
                              unit="batch"):
            chunk = items[start:start + BATCH]
            ratings, evidence = self.rate([it.response for it in chunk])
            on_result([Result(k, r.tolist(), e.tolist())
                       for k, r, e in zip(keys[start:start + BATCH], ratings, evidence)])

