"""The documented trait selection of Demographic Information: which pole labels of a history a
description may name (``traits``: what the history's items show, ranked by how many more items
show a pole than its opposite).

Shared by the assemble stage (which writes Demographic Information from it) and the evaluate
stage's leakage audit (which summarizes a history by the same rule, so that a DEMO is compared
with what the history, summarized the documented way, says; ``stages/evaluate/leakage.py``).
"""

from __future__ import annotations

import numpy as np

from alignx.orientation import STYLE_DIMENSIONS
from alignx.taxonomy import load_taxonomy

#: Pairs of (dimension, pole) that no one description may name together: each pair describes
#: opposite dispositions (Murray's needs and the Big Five as AlignX words them).
CONTRADICTIONS = (
    ((29, 1), (30, 1)),  # need for Dominance / for Deference
    ((35, 1), (36, 1)),  # Affiliation / Rejection
    ((29, 1), (33, 1)),  # Dominance / Abasement
    ((31, 1), (30, 1)),  # Autonomy / Deference
    ((35, 1), (28, 1)),  # Affiliation / Seclusion
    ((34, 1), (5, 1)),  # Aggression / high Agreeableness
    ((34, 1), (37, 1)),  # Aggression / Nurturance
    ((3, 1), (28, 1)),  # high Extraversion / Seclusion
    ((14, 1), (14, 0)),  # superficial / deep interaction (one dimension: never both anyway)
)


#: Interest dimensions are named only as "Likes X": a history direction of 0 on an interest says
#: the user chose a response that was not about X over one that was (or, for an annotator that
#: rates a topic only where it is present, nothing more), which is no evidence of disliking X.
INTERESTS = frozenset(range(47, 90))


def evidence(history_directions: list) -> np.ndarray:
    """(90,) int: per dimension, the history items whose direction is 1 minus those whose direction
    is 0 (> 0: the history shows label_1 more often than label_0)."""
    arr = np.stack([np.asarray(d, dtype=float) for d in history_directions])
    return (arr == 1.0).sum(axis=0) - (arr == 0.0).sum(axis=0)


def traits(history_directions: list, max_traits: int, style=STYLE_DIMENSIONS) -> str:
    """Comma-joined pole labels of at most ``max_traits`` dimensions of the history: a pole is a
    candidate when more history items show it than show its opposite (``evidence`` >= 1: every
    preference the history shows, not only those past the profile's thresholds, so two users
    differ wherever their histories do), ranked by that count (most first; ties by index), never
    both sides of a pair in CONTRADICTIONS (the weaker one is left out), interests only as
    "Likes" (INTERESTS); a choice of style traits alone (``style``: the dimensions that follow
    length on a forum, ``alignx.orientation.STYLE_DIMENSIONS``) names nothing, since a forum's
    own style is no persona. Listed in taxonomy order. "" when nothing passes or ``max_traits``
    < 1. Taking the first N of the ranking, the traits of a description naming N are the
    history's ``traits(history, N)`` (the leakage audit relies on it).

    ``history_directions``: directions of shape (90,) with values in {0, 0.5, 1}."""
    if not len(history_directions) or max_traits < 1:
        return ""
    net = evidence(history_directions)
    ranked_dims = sorted(np.flatnonzero(net != 0), key=lambda d: (-abs(int(net[d])), d))
    chosen: dict[int, int] = {}
    for d in ranked_dims:
        pole = int(net[d] > 0)
        if d in INTERESTS and pole == 0:
            continue  # see INTERESTS
        opposite = [pair[1 - pair.index((d, pole))] for pair in CONTRADICTIONS if (d, pole) in pair]
        if not any(chosen.get(od) == op for od, op in opposite):
            chosen[int(d)] = pole
        if len(chosen) == max_traits:
            break
    if set(chosen) <= set(style):
        return ""
    tax = load_taxonomy()
    return ", ".join(tax[d].label_1 if chosen[d] == 1 else tax[d].label_0 for d in sorted(chosen))
