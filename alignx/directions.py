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
3. Relative dimensions (``relative_rules()``, from ``resources/relative_directions.json``): for
   a pair of responses to the same text whose **raw measures** are both known (``MEASURES``:
   the offline annotator's word count, Flesch-Kincaid grade and the grade's two inputs,
   annotate's ``measures`` column), the direction on such a dimension compares the two measures
   instead of the two gated intensities: with x = the rule's value (``rule_value``: its measure,
   ``log`` scale = log(1 + x); or a weighted sum of ``terms``, each a measure on its scale) and s
   its sign, 1 where s * (x_chosen - x_rejected) >= the rule's gap, 0 where
   s * (x_rejected - x_chosen) >= gap, 0.5 otherwise. The per-comment rule abstains on middling
   text (ordinary prose is neither simple nor complex), so two middling responses tied although
   one is plainly the more complex of the two; the issue asks style, verbosity and complexity to be measured
   relative to the other responses to the same post. Where either side has no measures (the
   LLM backends) rule 2 applies. The rules and gaps are fitted on the reference set's **dev**
   split only (scripts/fit_relative_directions.py; never on test, never on P-SOUPS).
4. ``single_direction`` (a UGC item): the sign of the gated intensity (1 above 0, 0 below,
   0.5 where there is no evidence). Per comment: relative rules do not apply.

Version history: 1 = sign of the raw difference, no evidence; 2 = rules 1, 2 and 4;
3 = rule 3 added (complexity 46 and concise / detailed 16 compare the raw measures);
4 = rules may weigh several measures (``terms``): complexity 46 compares a readability formula
refitted on the dev labels (syllables per word, log words per sentence, log words).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import numpy as np

RULES_VERSION = "4"
#: Intensities must differ by at least this much for a pair to have a direction (assemble's
#: ``direction_gap`` overrides it).
DEFAULT_GAP = 1
#: Lowest evidence level that counts (1 weak, 2 strong).
DEFAULT_MIN_EVIDENCE = 1
#: The raw measures a measures vector holds, in this order (annotate's ``measures`` column has
#: one field each): ``words`` = word count (``\\w+`` matches), ``grade`` = Flesch-Kincaid grade
#: level, and its two inputs ``syllables_per_word`` and ``words_per_sentence``
#: (annotators/measures.py).
MEASURES = ("words", "grade", "syllables_per_word", "words_per_sentence")
RELATIVE_FILE = Path(__file__).parent / "resources" / "relative_directions.json"


@lru_cache(maxsize=1)
def relative_rules() -> tuple[dict, ...]:
    """The fitted relative rules: dicts with ``dimension``, ``measure`` (one of MEASURES) and
    ``scale`` ("linear" or "log"), or ``terms`` (a list of ``measure``, ``scale``, ``weight``),
    ``sign`` (+1: a higher value is nearer label_1) and ``gap`` (in the value's units)."""
    return tuple(json.loads(RELATIVE_FILE.read_text())["rules"])


def rules_fingerprint() -> str:
    """What a stage building pair directions hashes: the version and the fitted rules."""
    return f"{RULES_VERSION}:{json.dumps(relative_rules(), sort_keys=True)}"


def gate(ratings, evidence, min_evidence: int = DEFAULT_MIN_EVIDENCE) -> np.ndarray:
    """Shape like ``ratings`` (int16): the intensity where evidence >= ``min_evidence``, else 0.
    ``evidence`` None means every non-zero rating has evidence (an older rating without levels)."""
    r = np.asarray(ratings, dtype=np.int16)
    if evidence is None:
        return r
    return np.where(np.asarray(evidence, dtype=np.int16) >= min_evidence, r, 0).astype(np.int16)


def rule_value(measures: np.ndarray, rule: dict) -> np.ndarray:
    """The rule's value from measures vectors (shape (..., len(MEASURES))): its measure on its
    scale, or, for a rule with ``terms``, the weighted sum of its terms (each a ``measure``, a
    ``scale`` and a ``weight``)."""
    m = np.asarray(measures, dtype=np.float64)
    terms = rule.get("terms") or [{"measure": rule["measure"], "scale": rule["scale"], "weight": 1.0}]
    value = 0.0
    for t in terms:
        x = m[..., MEASURES.index(t["measure"])]
        value = value + t["weight"] * (np.log1p(np.maximum(x, 0.0)) if t["scale"] == "log" else x)
    return value


def relative_direction(measures_a, measures_b, rule: dict) -> np.ndarray:
    """Rule 3 alone, in {0, 0.5, 1}: 1 where side a sits higher than side b on ``rule``'s measure
    by at least its gap, 0 where lower, 0.5 otherwise (shape of the broadcast less the last axis)."""
    x = rule["sign"] * (rule_value(measures_a, rule) - rule_value(measures_b, rule))
    return np.where(x >= rule["gap"], 1.0, np.where(-x >= rule["gap"], 0.0, 0.5))


def higher(a, b, gap: int = DEFAULT_GAP, measures_a=None, measures_b=None, rules=None) -> np.ndarray:
    """Bool, shape of the broadcast of ``a`` and ``b`` (gated intensities, last axis 90): where
    side a sits higher than side b on the dimension by the rules above (2 and 3). ``measures_a``,
    ``measures_b``: raw measures broadcasting the same way (last axis len(MEASURES); NaN or None
    = not measured, rule 2 then applies). ``rules`` defaults to ``relative_rules()``."""
    a = np.asarray(a, dtype=np.int16)
    b = np.asarray(b, dtype=np.int16)
    out = (a - b) >= gap
    if measures_a is None or measures_b is None:
        return out
    ma = np.asarray(measures_a, dtype=np.float64)
    mb = np.asarray(measures_b, dtype=np.float64)
    measured = ~(np.isnan(ma).any(-1) | np.isnan(mb).any(-1))  # shape of the broadcast, less the last axis
    out = np.array(np.broadcast_to(out, np.broadcast_shapes(out.shape, measured.shape + (out.shape[-1],))))
    for rule in relative_rules() if rules is None else rules:
        d = rule["dimension"]
        out[..., d] = np.where(measured, relative_direction(ma, mb, rule) == 1.0, out[..., d])
    return out


def pair_direction(chosen, rejected, gap: int = DEFAULT_GAP, measures_chosen=None, measures_rejected=None
                   ) -> np.ndarray:
    """Shape (..., 90) in {0, 0.5, 1}: 1 where chosen sits higher than rejected (``higher``), 0
    where lower, 0.5 otherwise. Without measures (None) every dimension follows rule 2: gated
    intensities, 1 where chosen - rejected >= gap, 0 where rejected - chosen >= gap."""
    up = higher(chosen, rejected, gap, measures_chosen, measures_rejected)
    down = higher(rejected, chosen, gap, measures_rejected, measures_chosen)
    return np.where(up, 1.0, np.where(down, 0.0, 0.5))


def single_direction(ratings) -> np.ndarray:
    """Shape (90,) in {0, 0.5, 1}: the sign of each gated intensity, 0.5 where it is 0."""
    r = np.asarray(ratings, dtype=np.int16)
    return np.where(r > 0, 1.0, np.where(r < 0, 0.0, 0.5))
