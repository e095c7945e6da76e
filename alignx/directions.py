"""Preference directions from ratings with evidence: the one place their rules live.

A rating is a signed intensity in -2..2 per dimension (positive = towards ``label_1``) with an
evidence level (0 none, 1 weak, 2 strong). A direction is a float in {0, 0.5, 1} per dimension:
1 = the first side sits higher on the dimension, 0 = lower, 0.5 = no difference, or no evidence
(docs/design.md, section 2.3).

Rules, version ``RULES_VERSION``:

1. ``gate``: a rating counts only where its evidence is at least ``min_evidence`` (default 1,
   weak); elsewhere its intensity is taken as 0 (no evidence).
2. ``pair_direction``: on gated intensities c (chosen) and r (rejected), 1 where c - r >= gap,
   0 where r - c >= gap, 0.5 otherwise. Since gated intensities without evidence are 0 and gap
   >= 1, a pair direction is never 0 or 1 unless at least one side has evidence.
3. ``single_direction`` (a UGC item): the sign of the gated intensity (1 above 0, 0 below,
   0.5 where there is no evidence).

Version history: 1 = sign of the raw difference, no evidence; 2 = the rules above.
"""

from __future__ import annotations

import numpy as np

RULES_VERSION = "2"
#: Intensities must differ by at least this much for a pair to have a direction (assemble's
#: ``direction_gap`` overrides it).
DEFAULT_GAP = 1
#: Lowest evidence level that counts (1 weak, 2 strong).
DEFAULT_MIN_EVIDENCE = 1


def gate(ratings, evidence, min_evidence: int = DEFAULT_MIN_EVIDENCE) -> np.ndarray:
    """Shape like ``ratings`` (int16): the intensity where evidence >= ``min_evidence``, else 0.
    ``evidence`` None means every non-zero rating has evidence (an older rating without levels)."""
    r = np.asarray(ratings, dtype=np.int16)
    if evidence is None:
        return r
    return np.where(np.asarray(evidence, dtype=np.int16) >= min_evidence, r, 0).astype(np.int16)


def pair_direction(chosen, rejected, gap: int = DEFAULT_GAP) -> np.ndarray:
    """Shape (90,) in {0, 0.5, 1} from gated intensities: 1 where chosen - rejected >= gap, 0
    where rejected - chosen >= gap, 0.5 otherwise."""
    c = np.asarray(chosen, dtype=np.int16)
    r = np.asarray(rejected, dtype=np.int16)
    return np.where(c - r >= gap, 1.0, np.where(r - c >= gap, 0.0, 0.5))


def single_direction(ratings) -> np.ndarray:
    """Shape (90,) in {0, 0.5, 1}: the sign of each gated intensity, 0.5 where it is 0."""
    r = np.asarray(ratings, dtype=np.int16)
    return np.where(r > 0, 1.0, np.where(r < 0, 0.0, 0.5))
