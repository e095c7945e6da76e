"""What the dataset card says of a release split, gathered batch by batch as emit writes it.

emit reads assemble's examples a batch at a time (``stage.BATCH_ROWS``) and never holds a whole
split, so every figure of the card is a running count here: rows, rows per source, targets,
persona sizes, Preference Direction values per dimension and the split's distinct texts, kept
as 16-byte digests, to count the texts train and test share.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import polars as pl

from alignx.taxonomy import N_DIMENSIONS

#: The Preference Direction values the card counts per dimension: towards label_1, label_0, neutral.
DIRECTION_VALUES = (1.0, 0.0, 0.5)


def release_texts(df: pl.DataFrame) -> set[str]:
    """Every text of release rows: prompts, responses and persona items."""
    out = set(df["prompt"]) | set(df["chosen"]) | set(df["rejected"])
    for items in df["User-Generated Content"].to_list():
        out |= {t for it in items for t in (it["prompt"], it["comment"])}
    for items in df["Pair-wise Comparative Feedback"].to_list():
        out |= {t for it in items for t in (it["prompt"], it["chosen"], it["rejected"])}
    return out - {""}


class TextDigests:
    """A set of texts held as their 16-byte blake2b digests in a sorted numpy array (16 bytes a
    text, against a hundred and more for a Python set of the digests, and the texts' length for
    the texts). New digests wait in a list and are merged when they outnumber the merged ones,
    so duplicates across batches are dropped without sorting at every batch."""

    def __init__(self):
        self._merged = np.empty(0, dtype="V16")
        self._pending: list[np.ndarray] = []
        self._n_pending = 0

    def add(self, texts: set[str]) -> None:
        digests = b"".join(hashlib.blake2b(t.encode(), digest_size=16).digest() for t in texts)
        self._pending.append(np.frombuffer(digests, dtype="V16"))
        self._n_pending += len(texts)
        if self._n_pending > max(len(self._merged), 1 << 16):
            self._merge()

    def _merge(self) -> None:
        if self._pending:
            self._merged = np.unique(np.concatenate([self._merged, *self._pending]))
            self._pending, self._n_pending = [], 0

    def __len__(self) -> int:
        self._merge()
        return len(self._merged)

    def shared(self, other: TextDigests) -> int:
        """How many texts are in both sets."""
        self._merge()
        other._merge()
        return len(np.intersect1d(self._merged, other._merged, assume_unique=True))


class SplitSummary:
    """The card's figures of one release split, updated by ``add`` with each batch of release rows."""

    def __init__(self):
        self.rows = 0
        self.targets = 0  # rows with persona_type "all": one per test target, every train row
        self.sources: Counter = Counter()
        self.ugc_items = 0
        self.pair_items = 0
        self.with_demographic = 0
        #: rows whose Preference Direction on each dimension is each of ``DIRECTION_VALUES``
        self.directions = np.zeros((len(DIRECTION_VALUES), N_DIMENSIONS), dtype=np.int64)
        self.texts = TextDigests()

    def add(self, release: pl.DataFrame) -> None:
        self.rows += release.height
        self.targets += int((release["persona_type"] == "all").sum())
        self.sources.update(release["source"].to_list())
        self.ugc_items += int(release["User-Generated Content"].list.len().sum())
        self.pair_items += int(release["Pair-wise Comparative Feedback"].list.len().sum())
        self.with_demographic += int((release["Demographic Information"] != "").sum())
        dirs = np.array(release["Preference Direction"].to_list(), dtype=float).reshape(-1, N_DIMENSIONS)
        self.directions += np.stack([(dirs == v).sum(axis=0) for v in DIRECTION_VALUES])
        self.texts.add(release_texts(release))

    def direction_share(self, value: float, dimension: int) -> str:
        """The card's cell: the share of rows with ``value`` on ``dimension``, "-" for no rows."""
        if not self.rows:
            return "-"
        return f"{self.directions[DIRECTION_VALUES.index(value), dimension] / self.rows:.2f}"
