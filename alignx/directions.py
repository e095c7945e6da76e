"""Preference directions from intensity ratings: the one place their rules live.

A rating is a signed intensity in -2..2 per dimension (positive = towards ``label_1``). A
direction is a float in {0, 0.5, 1} per dimension: 1 = the first side sits higher on the
dimension, 0 = lower, 0.5 = no difference or not applicable (docs/design.md, section 2.3).
"""

from __future__ import annotations

import numpy as np


def pair_direction(chosen, rejected) -> np.ndarray:
    """Shape (90,) in {0, 0.5, 1}: 1 where chosen's rating is higher, 0 lower, 0.5 equal."""
    c = np.asarray(chosen, dtype=np.int16)
    r = np.asarray(rejected, dtype=np.int16)
    return np.where(c > r, 1.0, np.where(c < r, 0.0, 0.5))


def single_direction(ratings) -> np.ndarray:
    """Shape (90,) in {0, 0.5, 1}: the sign of each rating."""
    r = np.asarray(ratings, dtype=np.int16)
    return np.where(r > 0, 1.0, np.where(r < 0, 0.0, 0.5))
