"""Raw measures of a response, stored beside its ratings (annotate's ``measures`` column) so pair
directions can compare two responses to the same text (alignx/directions.py, rule 3).

``words``: word count (``\\w+`` matches, the offline annotator's ``words`` feature); ``grade``:
Flesch-Kincaid grade level, ``syllables_per_word`` and ``words_per_sentence`` (its two inputs;
the offline annotator's features, annotators/embedding.py ``readability``). Only the offline (``embedding``) backend computes
them (its ``measures``); the LLM backends store null and their pair directions follow the gated intensities.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from alignx.directions import MEASURES
from annotators.embedding import readability

#: annotate's ``measures`` column: one Float32 field per measure, in MEASURES order
MEASURES_TYPE = pl.Struct({name: pl.Float32 for name in MEASURES})


def raw_measures(texts: list[str]) -> np.ndarray:
    """Shape (len(texts), len(MEASURES)) float32: each text's measures, vectorized over the texts."""
    series = pl.Series(texts, dtype=pl.String)
    values = {"words": series.str.count_matches(r"\w+").to_numpy().astype(np.float64), **readability(series)}
    return np.stack([values[m] for m in MEASURES], axis=1).astype(np.float32).reshape(len(texts), len(MEASURES))


def measures_version() -> str:
    """Changes whenever the measures' code or list changes (this module, the readability it uses,
    MEASURES)."""
    from annotators import embedding

    code = Path(__file__).read_bytes() + Path(embedding.__file__).read_bytes() + ",".join(MEASURES).encode()
    return "m" + hashlib.sha256(code).hexdigest()[:12]
