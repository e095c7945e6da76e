"""The 90 AlignX preference dimensions and the profile rule (docs/design.md section 1).

The project's one machine-readable copy lives in ``alignx/resources/alignx_dimensions.tsv``;
every other module reads dimensions from here and never hard-codes an index.

Directions are floats in {0, 0.5, 1}: 1 = towards ``label_1``, 0 = towards ``label_0``,
0.5 = no difference / not applicable.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

TAXONOMY_FILE = Path(__file__).parent / "resources" / "alignx_dimensions.tsv"
N_DIMENSIONS = 90
NEUTRAL = 0.5
#: Profile thresholds of docs/design.md: mean >= HIGH -> 1, mean <= LOW -> 0, else 0.5.
PROFILE_HIGH = 0.6
PROFILE_LOW = 0.4


@dataclass(frozen=True)
class Dimension:
    index: int
    group: str
    description: str
    label_1: str
    label_0: str


@dataclass(frozen=True)
class Taxonomy:
    dimensions: tuple[Dimension, ...]

    def __len__(self) -> int:
        return len(self.dimensions)

    def __getitem__(self, index: int) -> Dimension:
        return self.dimensions[index]

    def __iter__(self):
        return iter(self.dimensions)

    def group(self, name: str) -> list[Dimension]:
        """Dimensions of one group, e.g. ``"Interests"`` (43 of them)."""
        return [d for d in self.dimensions if d.group == name]

    def find(self, text: str) -> Dimension:
        """The one dimension whose description or label contains ``text`` (case-insensitive).

        Lets config name a dimension by words ("harmlessness") rather than by index.
        Raises ``KeyError`` when zero or several dimensions match.
        """
        needle = text.lower()
        hits = [
            d
            for d in self.dimensions
            if needle in d.description.lower() or needle in d.label_1.lower() or needle in d.label_0.lower()
        ]
        if len(hits) != 1:
            names = ", ".join(f"{d.index}: {d.description}" for d in hits[:5]) or "none"
            raise KeyError(f"{text!r} matches {len(hits)} dimensions ({names}); be more specific")
        return hits[0]


@lru_cache(maxsize=4)
def load_taxonomy(path: Path | str = TAXONOMY_FILE) -> Taxonomy:
    """Read the taxonomy TSV (columns: index, group, description, label_1, label_0)."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    dims = tuple(
        Dimension(int(r["index"]), r["group"], r["description"], r["label_1"], r["label_0"]) for r in rows
    )
    if [d.index for d in dims] != list(range(len(dims))):
        raise ValueError(f"{path}: indices must run 0..{len(dims) - 1} in order")
    return Taxonomy(dims)


def validate_direction(direction, *, where: str = "direction") -> np.ndarray:
    """Return ``direction`` as a float array of shape (90,), values in {0, 0.5, 1}; else ValueError."""
    arr = np.asarray(direction, dtype=float)
    if arr.shape != (N_DIMENSIONS,):
        raise ValueError(f"{where}: expected {N_DIMENSIONS} values, got shape {arr.shape}")
    bad = ~np.isin(arr, (0.0, 0.5, 1.0))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: value {arr[i]!r} at dimension {i} is not one of 0, 0.5, 1")
    return arr


def profile(directions) -> np.ndarray:
    """Collapse history directions into one profile (docs/design.md section 1).

    ``directions``: array-like of shape (n_items, 90) with values in {0, 0.5, 1}, n_items >= 1.
    Returns shape (90,): the element-wise mean mapped >= 0.6 -> 1, <= 0.4 -> 0, else 0.5.
    If no dimension is non-neutral, the single most extreme dimension (largest |mean - 0.5|,
    lowest index on ties) is kept on its side; with no signal at all the profile stays neutral.
    """
    arr = np.asarray(directions, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != N_DIMENSIONS or arr.shape[0] == 0:
        raise ValueError(f"directions: expected shape (n>=1, {N_DIMENSIONS}), got {arr.shape}")
    mean = arr.mean(axis=0)
    # Rounding guards the thresholds against float noise (e.g. 0.6 from three items).
    mean_r = np.round(mean, 9)
    out = np.full(N_DIMENSIONS, NEUTRAL)
    out[mean_r >= PROFILE_HIGH] = 1.0
    out[mean_r <= PROFILE_LOW] = 0.0
    if (out == NEUTRAL).all():
        distance = np.abs(mean_r - NEUTRAL)
        i = int(np.argmax(distance))
        if distance[i] > 0:
            out[i] = 1.0 if mean_r[i] > NEUTRAL else 0.0
    return out


def render_profile(prof, taxonomy: Taxonomy | None = None) -> str:
    """Comma-joined pole labels of the non-neutral dimensions, in taxonomy order.

    ``prof``: shape (90,), values in {0, 0.5, 1}. An all-neutral profile renders as "".
    """
    taxonomy = taxonomy or load_taxonomy()
    prof = validate_direction(prof, where="profile")
    labels = []
    for dim, value in zip(taxonomy, prof):
        if value == 1.0:
            labels.append(dim.label_1)
        elif value == 0.0:
            labels.append(dim.label_0)
    return ", ".join(labels)
