"""The annotators: what rates a text on the 90 dimensions, below the stages that use them.

Three backends, each a class registered here by the name ``annotate.backend`` gives it:
``embedding`` (the offline instruments, ``embedding.py``), ``openai`` (any OpenAI-compatible
chat endpoint, ``llm.py``) and ``openai-batch`` (the Batch API, ``batch.py``). Beside them:
the rating scale, prompt, cache and cost accounting (``ratings.py``), the raw measures pair
directions compare (``measures.py``), the cost estimate (``estimate.py``) and the validity
report against the hand-labelled reference set (``validity.py``).

The stages ``annotate``, ``assemble`` (paraphrase re-rating) and ``evaluate`` reach a backend
through this module, by name; no code outside this package compares backend names. The
package imports the framework (``pipeline``) and the shared domain code (``alignx``), never a
stage.

A backend class is an ``Annotator`` (the protocol below): built from the ``[annotate]``
section by ``create``, it rates items through ``annotate``; its class methods answer what can
be known without building it (which model, which version, what it costs), since building the
offline one opens its embedding cache and readers (``alignx status``) write nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Protocol

import numpy as np
import polars as pl

from annotators.batch import BatchAnnotator
from annotators.embedding import EmbeddingAnnotator
from annotators.llm import OpenAIAnnotator
from alignx.candidates import dataset_comments
from annotators.ratings import Item, Result, Spend
from pipeline.stage import keys

#: What decides a rating: the annotator and how it is sampled (the cache key holds backend, model
#: and annotator version). Declared (``Stage.uses``) by every stage that rates texts with it.
ANNOTATOR = keys("annotate", "backend", "embedding_model", "offline_max_interests", "model", "temperature",
                 "sampling_seed", "max_output_tokens", "self_consistency")
#: How ratings are asked for, never what they are: where, with which key, how many at once, how
#: long to wait, how often to retry, what it may cost (``Stage.tunes``).
ANNOTATOR_TUNES = keys("annotate", "base_url", "api_key_env", "concurrency", "items_per_request", "timeout_s",
                       "max_retries", "invalid_retries", "batch_poll_s", "price_input_per_mtok",
                       "price_output_per_mtok", "batch_discount", "max_cost")
#: Which comments the annotate stage rates (``annotate.scope``), and the assemble settings the
#: rule of which comments can enter the dataset reads (``alignx/candidates.py``).
SCOPE = ("annotate.scope", "assemble.min_comments", "assemble.pairs_from")


class Annotator(Protocol):
    """A backend: its name (part of every cache key), model and version, and how it rates."""

    backend: str
    sends_requests: bool  # to an endpoint, one per text not yet cached: what ``estimate`` counts
    model: str
    version: str

    @classmethod
    def create(cls, p: dict, data_dir: Path) -> "Annotator":
        """The backend for the ``[annotate]`` section ``p``, its state under ``data_dir``."""

    @classmethod
    def model_of(cls, p: dict) -> str:
        """The model it rates with under ``p``."""

    @classmethod
    def fingerprint(cls, p: dict) -> dict[str, str]:
        """What, besides ``p``, changes its ratings (annotate reruns when it changes)."""

    @classmethod
    def spend(cls, p: dict) -> Spend:
        """A fresh cost counter at its prices, capped by ``annotate.max_cost``."""

    @classmethod
    def where(cls, p: dict) -> str:
        """Where it rates, for an error message ("at the endpoint ...")."""

    @classmethod
    def measures(cls, texts: list[str]) -> np.ndarray | None:
        """The raw measures (``measures.MEASURES_TYPE`` order) of ``texts`` where it computes
        them, else None."""

    @classmethod
    def ruled_dimensions(cls) -> list[int]:
        """The dimensions it has a fitted rule for, where that is fixed ahead (else empty)."""

    def annotate(self, items: list[Item], keys: list[str], on_result: Callable[[list[Result]], None],
                 spend: Spend, show_progress: bool = True) -> None:
        """Rate ``items`` (cache keys ``keys``), handing results to ``on_result`` as they come."""


#: Every backend by its ``annotate.backend`` name (configs/schema.toml lists the same names).
BACKENDS: dict[str, type[Annotator]] = {cls.backend: cls for cls in (EmbeddingAnnotator, OpenAIAnnotator,
                                                                     BatchAnnotator)}


def backend(name: str) -> type[Annotator]:
    """The backend class registered as ``name``."""
    try:
        return BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown annotator backend '{name}'; backends are: {', '.join(BACKENDS)}") from None


def make(p: dict, data_dir: Path) -> Annotator:
    """The configured annotator (``p``: the ``[annotate]`` section, ``p["backend"]`` its name)."""
    return backend(p["backend"]).create(p, data_dir)


def make_spend(p: dict) -> Spend:
    """A fresh cost counter for the configured backend."""
    return backend(p["backend"]).spend(p)


def label(p: dict) -> str:
    """``backend:model``, the name a release and the validity report give the annotator."""
    return f"{p['backend']}:{backend(p['backend']).model_of(p)}"


def cache_path(data_dir: Path) -> Path:
    """The rating cache every backend and every stage shares."""
    return data_dir / "cache" / "annotations.sqlite"


def scope(p: dict) -> str:
    """What ``annotate.scope`` resolves to for the configured backend: "dataset" (only the
    comments that can enter the dataset, ``alignx/candidates.py``) or "all". "auto" is "dataset"
    for a backend that sends requests (each one paid for) and "all" for the offline one, whose
    ratings of every comment feed cluster's topics and correlations at no cost."""
    if p["scope"] == "auto":
        return "dataset" if backend(p["backend"]).sends_requests else "all"
    return p["scope"]


def rated_ids(p: dict, min_comments: int, pairs_from: str, thread_files: list[Path]) -> set[str] | None:
    """The ids of the comments of ``thread_files`` (anonymize's threads) the stage rates under
    ``p`` (the ``[annotate]`` section; ``min_comments`` and ``pairs_from`` from ``[assemble]``):
    None for every comment."""
    if scope(p) == "all":
        return None
    return set(dataset_comments(pl.scan_parquet(thread_files), min_comments, pairs_from).collect()["id"])
