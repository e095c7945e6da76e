"""The orientation rule: which of two responses a user chose, by how much, and which pair of a
post's responses says most about the user. assemble orients its targets and Pair-wise
Comparative Feedback with it; evaluate's profile predictors and leakage audit score with it.

- A pair's **direction** (``direction``): per dimension, 1 when response a sits higher than b,
  0 lower, 0.5 neither (``alignx.directions.pair_direction``: the ratings, and the raw measures
  on the relative dimensions where both have them).
- Its **margin** along a profile (``margins``): over the profile's non-neutral dimensions, the
  dimensions where the direction points to the profile's pole minus those where it points away.
- **Orienting** a pair (``orient``): the side the margin favours is chosen; the margin is then
  >= 0. A tie keeps the order given.
- The **best pair** of a post (``best_pair``): of its first ``MAX_CANDIDATES`` responses, the
  pair with the largest margin (the first such in ``itertools.combinations`` order), oriented,
  if it reaches a minimum margin; identical ratings never make a pair.
"""

from __future__ import annotations

import numpy as np

from alignx.directions import MEASURES, higher, pair_direction

MAX_CANDIDATES = 30  # responses considered per post (435 pairs)


def direction(a: dict, b: dict, gap: int) -> np.ndarray:
    """Shape (90,): the pair direction of comments a over b (alignx.directions, with both
    comments' raw measures where annotate stored them: rule 3 on the relative dimensions)."""
    return pair_direction(a["ratings"], b["ratings"], gap, a.get("measures"), b.get("measures"))


def margins(directions: np.ndarray, profiles: np.ndarray) -> np.ndarray:
    """(n,) float: per pair, the dimensions of its direction (``directions``, (n, 90)) that agree
    with the non-neutral poles of its profile (``profiles``, (n, 90)) minus those that oppose them."""
    strong = profiles != 0.5
    return (((directions == profiles) & strong).sum(axis=1) - ((directions == 1 - profiles) & strong).sum(axis=1)
            ).astype(float)


def orient(a: dict, b: dict, prof: np.ndarray, gap: int) -> tuple[dict, dict, int]:
    """(chosen, rejected, margin >= 0) of comments a, b under profile ``prof``."""
    m = int(margins(direction(a, b, gap)[None, :], np.asarray(prof)[None, :])[0])
    return (a, b, m) if m >= 0 else (b, a, -m)


def measures_matrix(comments: list[dict]) -> np.ndarray | None:
    """(k, len(MEASURES)) float: the comments' raw measures (NaN where one has none), or None
    when none has any."""
    rows = [c.get("measures") for c in comments]
    if all(r is None for r in rows):
        return None
    return np.array([np.full(len(MEASURES), np.nan) if r is None else r for r in rows], dtype=np.float64)


def best_pair(comments: list[dict], prof: np.ndarray, min_margin: int, gap: int) -> tuple[dict, dict, int] | None:
    """The pair of the first ``MAX_CANDIDATES`` comments with the largest margin under ``prof``
    (the first such pair in ``itertools.combinations`` order), oriented as ``orient`` does, or
    None when no pair reaches ``min_margin``. Identical ratings never make a pair.

    Vectorized over all k*(k-1)/2 pairs at once: with ``up[i, j, d]`` = i sits higher than j
    on d (``alignx.directions.higher``: r_i - r_j >= gap, or the relative rule on the raw
    measures) on the profile's non-neutral dimensions d and w[d] = +1 (profile 1) or -1
    (profile 0), the margin of (i chosen, j rejected) is agree - disagree = S[i, j] - S[j, i]
    with S = up @ w (tests/alignx/test_orientation.py checks it equals ``orient`` pair by pair).
    """
    cands = comments[:MAX_CANDIDATES]
    k = len(cands)
    if k < 2:
        return None
    strong = np.flatnonzero(prof != 0.5)
    ratings = np.asarray([c["ratings"] for c in cands], dtype=np.int16)
    m = measures_matrix(cands)
    up = higher(ratings[:, None, :], ratings[None, :, :], gap,
                None if m is None else m[:, None, :], None if m is None else m[None, :, :])[:, :, strong]
    s = up.astype(np.int16) @ np.where(prof[strong] == 1.0, 1, -1).astype(np.int16)  # (k, k)
    d = s - s.T  # > 0: i over j agrees with the profile
    valid = np.triu(np.abs(d) >= min_margin, 1)
    if min_margin <= 0:  # equal ratings have margin 0: they matter only when 0 is enough
        valid &= ~(ratings[:, None, :] == ratings[None, :, :]).all(-1)
    if not valid.any():
        return None
    flat = int(np.argmax(np.where(valid, np.abs(d), -1)))  # row-major = combinations order
    i, j = divmod(flat, k)
    margin = int(abs(d[i, j]))
    return (cands[i], cands[j], margin) if d[i, j] >= 0 else (cands[j], cands[i], margin)
