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
- Its **content margin**: the margin over the profile's dimensions other than the style ones
  (``STYLE_DIMENSIONS`` by default: 14 depth of interaction, 16 concise / detailed, 46
  complexity), taken in the orientation the whole margin gives. Style follows length on a forum
  (a shorter response is the more concise and the simpler), so a pair whose margin is style
  alone is a length pair: the best pair must reach a minimum content margin too.
- The **best pair** of a post (``best_pair``): of its first ``MAX_CANDIDATES`` responses, the
  pair with the largest margin whose content margin reaches its minimum, oriented, if its margin
  reaches a minimum; among pairs of equal margin, the one whose lengths (``chars``, when the
  comments carry it) are closest (``|log((1 + chars_a) / (1 + chars_b))|`` smallest), then the
  first in ``itertools.combinations`` order. Identical ratings never make a pair.
- A **community's leaning** (``community_profile``): the pole of a dimension that at least a
  share of the community's users hold in their profiles, and at least twice as many as hold
  the other pole (crypto forums: "likes finance", "likes digital technology"). A pair whose
  chosen side the community's leaning would also choose says what the forum prefers, not what the
  user does: a model learns it without the persona. ``best_pair`` given a leaning keeps only
  pairs the leaning does not decide, so a pair's direction rests on what sets the user apart.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from alignx.directions import MEASURES, higher, pair_direction

MAX_CANDIDATES = 30  # responses considered per post (435 pairs)
#: The style dimensions (depth of interaction, concise / detailed, complexity): on a forum they
#: follow a response's length. assemble's ``style_dimensions`` setting overrides them.
STYLE_DIMENSIONS = (14, 16, 46)


def code_fingerprint() -> str:
    """sha256 of the source of the rules a pair's orientation and a persona follow (this module,
    alignx/directions.py, alignx/persona.py): the stages whose outputs follow them hash it, so
    a change to a rule makes them stale without a version bump."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in ("orientation.py", "directions.py", "persona.py"):
        digest.update((here / name).read_bytes())
    return digest.hexdigest()


def direction(a: dict, b: dict, gap: int) -> np.ndarray:
    """Shape (90,): the pair direction of comments a over b (alignx.directions, with both
    comments' raw measures where annotate stored them: rule 3 on the relative dimensions)."""
    return pair_direction(a["ratings"], b["ratings"], gap, a.get("measures"), b.get("measures"))


def margins(directions: np.ndarray, profiles: np.ndarray, exclude=()) -> np.ndarray:
    """(n,) float: per pair, the dimensions of its direction (``directions``, (n, 90)) that agree
    with the non-neutral poles of its profile (``profiles``, (n, 90)) minus those that oppose them,
    leaving out the dimensions ``exclude`` (the style ones, for a content margin)."""
    strong = profiles != 0.5
    if len(exclude):
        strong = strong.copy()
        strong[..., list(exclude)] = False
    return (((directions == profiles) & strong).sum(axis=1) - ((directions == 1 - profiles) & strong).sum(axis=1)
            ).astype(float)


def orient(a: dict, b: dict, prof: np.ndarray, gap: int) -> tuple[dict, dict, int]:
    """(chosen, rejected, margin >= 0) of comments a, b under profile ``prof``."""
    m = int(margins(direction(a, b, gap)[None, :], np.asarray(prof)[None, :])[0])
    return (a, b, m) if m >= 0 else (b, a, -m)


def content_margin(chosen: dict, rejected: dict, prof: np.ndarray, gap: int, style=STYLE_DIMENSIONS) -> int:
    """The margin of chosen over rejected under ``prof`` without the ``style`` dimensions."""
    return int(margins(direction(chosen, rejected, gap)[None, :], np.asarray(prof)[None, :], style)[0])


def length_gap(comments: list[dict]) -> np.ndarray | None:
    """(k, k) float: |log((1 + chars_i) / (1 + chars_j))| of the comments' lengths (``chars``), or
    None when any comment lacks one."""
    chars = [c.get("chars") for c in comments]
    if any(x is None for x in chars):
        return None
    x = np.log1p(np.asarray(chars, dtype=np.float64))
    return np.abs(x[:, None] - x[None, :])


def measures_matrix(comments: list[dict]) -> np.ndarray | None:
    """(k, len(MEASURES)) float: the comments' raw measures (NaN where one has none), or None
    when none has any."""
    rows = [c.get("measures") for c in comments]
    if all(r is None for r in rows):
        return None
    return np.array([np.full(len(MEASURES), np.nan) if r is None else r for r in rows], dtype=np.float64)


def community_profile(profiles: np.ndarray, min_share: float) -> np.ndarray:
    """(90,) in {0, 0.5, 1}: the community's leaning from its users' profiles (``profiles``, (n,
    90) in {0, 0.5, 1}): the pole held by at least ``min_share`` of the users and by at least twice
    as many users as the opposite pole; 0.5 elsewhere."""
    profiles = np.asarray(profiles)
    out = np.full(profiles.shape[1], 0.5)
    if not len(profiles):
        return out
    n1, n0 = (profiles == 1.0).sum(axis=0), (profiles == 0.0).sum(axis=0)
    floor = max(min_share * len(profiles), 1)
    out[(n1 >= floor) & (n1 >= 2 * n0)] = 1.0
    out[(n0 >= floor) & (n0 >= 2 * n1)] = 0.0
    return out


def best_pair(comments: list[dict], prof: np.ndarray, min_margin: int, gap: int, style=(),
              min_content_margin: int | None = None, community: np.ndarray | None = None
              ) -> tuple[dict, dict, int] | None:
    """The pair of the first ``MAX_CANDIDATES`` comments with the largest margin under ``prof``,
    oriented as ``orient`` does, among the pairs whose content margin (the margin without the
    ``style`` dimensions, in that orientation) is at least ``min_content_margin`` (None: no
    minimum); ties go to the pair of closest lengths (``length_gap``, when every comment has
    ``chars``), then to the first in ``itertools.combinations`` order. None when no pair
    reaches ``min_margin``. Identical ratings never make a pair. Given a ``community`` leaning
    (``community_profile``), only pairs whose margin over the profile's dimensions the community
    does not lean on reaches ``min_margin`` (at least 1), and whose margin under the leaning is
    at most 0, both in the orientation ``prof`` gives, are considered.

    Vectorized over all k*(k-1)/2 pairs at once: with ``up[i, j, d]`` = i sits higher than j
    on d (``alignx.directions.higher``: r_i - r_j >= gap, or the relative rule on the raw
    measures) on the profile's non-neutral dimensions d and w[d] = +1 (profile 1) or -1
    (profile 0), the margin of (i chosen, j rejected) is agree - disagree = S[i, j] - S[j, i]
    with S = up @ w, and its content margin the same over the non-style dimensions
    (tests/alignx/test_orientation.py checks both equal ``orient``'s pair by pair).
    """
    cands = comments[:MAX_CANDIDATES]
    k = len(cands)
    if k < 2:
        return None
    strong = np.flatnonzero(prof != 0.5)
    ratings = np.asarray([c["ratings"] for c in cands], dtype=np.int16)
    m = measures_matrix(cands)
    up_all = higher(ratings[:, None, :], ratings[None, :, :], gap,
                    None if m is None else m[:, None, :], None if m is None else m[None, :, :])
    up = up_all[:, :, strong]
    w = np.where(prof[strong] == 1.0, 1, -1).astype(np.int16)
    s = up.astype(np.int16) @ w  # (k, k)
    d = s - s.T  # > 0: i over j agrees with the profile
    valid = np.triu(np.abs(d) >= min_margin, 1)
    if min_margin <= 0:  # equal ratings have margin 0: they matter only when 0 is enough
        valid &= ~(ratings[:, None, :] == ratings[None, :, :]).all(-1)
    if min_content_margin is not None:
        content = ~np.isin(strong, list(style))
        sc = up[:, :, content].astype(np.int16) @ w[content]
        dc = sc - sc.T
        valid &= np.where(d >= 0, dc, -dc) >= min_content_margin  # in the orientation d gives
    if community is not None:
        leaning = np.asarray(community)
        leans = np.flatnonzero(leaning != 0.5)
        # the margin on what sets the user apart (the profile's dimensions the community does not
        # lean on) reaches min_margin, and the leaning would not choose the chosen side
        own = ~np.isin(strong, leans)
        so = up[:, :, own].astype(np.int16) @ w[own]
        sl = up_all[:, :, leans].astype(np.int16) @ np.where(leaning[leans] == 1.0, 1, -1).astype(np.int16)
        do, dl = so - so.T, sl - sl.T
        valid &= (np.where(d >= 0, do, -do) >= max(min_margin, 1)) & (np.where(d >= 0, dl, -dl) <= 0)
    if not valid.any():
        return None
    score = np.where(valid, np.abs(d), -1)
    best = valid & (score == score.max())
    gaps = length_gap(cands)
    if gaps is not None:  # among equal margins, the closest lengths
        best &= gaps == gaps[best].min()
    flat = int(np.argmax(best))  # row-major = combinations order
    i, j = divmod(flat, k)
    margin = int(abs(d[i, j]))
    return (cands[i], cands[j], margin) if d[i, j] >= 0 else (cands[j], cands[i], margin)
