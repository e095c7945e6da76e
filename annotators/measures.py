"""Raw measures of a response, stored beside its ratings (annotate's ``measures`` column) so pair
directions can compare two responses to the same text (alignx/directions.py, rule 3).

``words``: word count (``\\w+`` matches, the offline annotator's ``words`` feature); ``grade``:
Flesch-Kincaid grade level, ``syllables_per_word`` and ``words_per_sentence`` (its two inputs,
``readability``; the offline annotator's features too). Only the offline (``embedding``) backend
computes them (its ``measures``); the LLM backends store null and their pair directions follow
the gated intensities.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from alignx.directions import MEASURES

URL = r"\(?https?://\S+|www\.\S+"

#: annotate's ``measures`` column: one Float32 field per measure, in MEASURES order
MEASURES_TYPE = pl.Struct({name: pl.Float32 for name in MEASURES})


def readability(texts: pl.Series) -> dict[str, np.ndarray]:
    """``grade`` (Flesch-Kincaid grade level: 0.39 words per sentence + 11.8 syllables per word -
    15.59) and its inputs ``syllables_per_word`` and ``words_per_sentence``, each shape (n,),
    vectorized over the texts (polars regex counts; syllables = vowel groups less a silent final
    e, at least one per word). An empty text has grade 0 and no words per sentence."""
    texts = texts.str.replace_all(URL, " ")  # a URL is no word of the text
    words = texts.str.count_matches(r"[A-Za-z]+").to_numpy().astype(np.float64)
    vowels = texts.str.count_matches(r"(?i)[aeiouy]+").to_numpy().astype(np.float64)
    silent_e = texts.str.count_matches(r"(?i)\b\w{2,}[^aeiouyl\W]e\b").to_numpy().astype(np.float64)
    sentences = texts.str.count_matches(r"[.!?]+(?:\s|$)").to_numpy().astype(np.float64)
    ends_open = ~texts.str.contains(r"[.!?]\s*$").to_numpy()
    sentences = np.maximum(sentences + ends_open, 1)  # a text not ending in . ! ? ends a sentence
    syllables = np.maximum(vowels - silent_e, words)
    spw = np.where(words > 0, syllables / np.maximum(words, 1), 0.0)
    wps = words / sentences
    grade = np.where(words > 0, 0.39 * wps + 11.8 * spw - 15.59, 0.0)
    return {"grade": grade, "syllables_per_word": spw, "words_per_sentence": wps}


def raw_measures(texts: list[str]) -> np.ndarray:
    """Shape (len(texts), len(MEASURES)) float32: each text's measures, vectorized over the texts."""
    series = pl.Series(texts, dtype=pl.String)
    values = {"words": series.str.count_matches(r"\w+").to_numpy().astype(np.float64), **readability(series)}
    return np.stack([values[m] for m in MEASURES], axis=1).astype(np.float32).reshape(len(texts), len(MEASURES))


def measures_version() -> str:
    """Changes whenever the measures' code or list changes (this module, MEASURES)."""
    code = Path(__file__).read_bytes() + ",".join(MEASURES).encode()
    return "m" + hashlib.sha256(code).hexdigest()[:12]
