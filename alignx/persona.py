"""The documented trait selection of Demographic Information: which pole labels of a history's
profile a description may name.

Shared by the assemble stage (which writes Demographic Information from it) and the evaluate
stage's leakage audit (which summarizes a history by the same rule, so that a DEMO is compared
with what the history, summarized the documented way, says; ``stages/evaluate/leakage.py``).
"""

from __future__ import annotations

import numpy as np

from alignx.taxonomy import NEUTRAL, load_taxonomy, profile

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


def traits(history_directions: list, max_traits: int) -> str:
    """Comma-joined pole labels of at most ``max_traits`` dimensions of the history's profile:
    only non-neutral dimensions (the profile rule of alignx.taxonomy over evidence-gated
    directions), strongest first (largest |mean - 0.5| over the history; ties by index), never
    both sides of a pair in CONTRADICTIONS (the weaker one is left out), interests only as
    "Likes" (INTERESTS), listed in taxonomy order. "" when nothing passes or ``max_traits`` < 1.

    ``history_directions``: directions of shape (90,) with values in {0, 0.5, 1}."""
    if not len(history_directions) or max_traits < 1:
        return ""
    arr = np.stack([np.asarray(d, dtype=float) for d in history_directions])
    prof = profile(arr)
    strength = np.abs(arr.mean(axis=0) - NEUTRAL)
    ranked_dims = sorted(np.flatnonzero(prof != NEUTRAL), key=lambda d: (-strength[d], d))
    chosen: dict[int, int] = {}
    for d in ranked_dims:
        pole = int(prof[d])
        if d in INTERESTS and pole == 0:
            continue  # see INTERESTS
        opposite = [pair[1 - pair.index((d, pole))] for pair in CONTRADICTIONS if (d, pole) in pair]
        if not any(chosen.get(od) == op for od, op in opposite):
            chosen[int(d)] = pole
        if len(chosen) == max_traits:
            break
    tax = load_taxonomy()
    return ", ".join(tax[d].label_1 if chosen[d] == 1 else tax[d].label_0 for d in sorted(chosen))
