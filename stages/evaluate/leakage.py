"""Leakage audit: does the Demographic Information know more about the target than the history?

A clean release writes DEMO from the history's directions only, by a documented summary
(``alignx.persona.traits``: poles more history items show than show their opposite, interests
only as liked, never both sides of a contradicting pair, never style alone, the most shown few). A leaky one (what the released AlignX's DEMO
91.44 vs golden 91.36 suggests) writes DEMO from the target's own Preference Direction (the
golden direction). So DEMO is compared with the **history as DEMO**: the history's directions
summarized by that same rule, at as many traits as the example's DEMO names (a DEMO naming 4
traits against the history's 4 strongest), and read back from its labels as DEMO is
(``profile_from_labels``). A DEMO written from the history can then match it but never beat it
beyond noise; a DEMO written from the target beats it.

Why not the raw history personas, as before (the profile of the UGC directions, and that of
the PAIR directions): DEMO summarizes both halves together, and by a rule that keeps only some
dimensions. Against each half alone a clean DEMO wins by construction: on the clean 2025-03
r/ethereum month, DEMO-only 98.4% against UGC 95.2% and PAIR 84.1%, a false LEAK. Against the
raw profile of both halves the summary's own effect still decides: it names fewer dimensions
(no "dislikes X" interests, never both sides of a contradiction, at most 12), which moves
accuracy either way. On the same month with DEMO rendered from each target's whole direction
(every non-neutral dimension: a real leak), the raw history scores 98.4% and would hide it (DEMO 100%), while the history
summarized at the leaky DEMO's number of traits scores 92.1%. So the history as DEMO replaces
the raw personas in both criteria; the raw history (UGC and PAIR together) stays in the
audit's output as context.

Two measurements over the rows carrying every signal (a release's persona_type "all" rows,
each target once), both against the golden direction:

* **text recall**: over the golden direction's non-neutral dimensions, the share that the
  DEMO text names with the same pole, against the same share for the history as DEMO. No
  model is involved (the released history directions), so it works at any scale, including a
  tiny release where every predictor is at 100%. It too compares with the history as DEMO,
  not the raw profile, for the same reason: a template DEMO written from the history recalls
  exactly what the history as DEMO recalls (the clean month: 69.0% both), while the raw
  profile names every non-neutral dimension and recalls more (72.5%), a slack a leak could hide
  in. On that month a DEMO written from each target's direction by the same trait rule (12
  traits, as from a history) recalls 84.5%:
  30 points over the history as DEMO (53.9%), 12 over the raw profile.
* **accuracy**: the profile predictor's accuracy with DEMO alone as the profile, with the
  history as DEMO and with the golden direction, on the same rows (paired).

The audit flags a leak when DEMO's recall exceeds the history-as-DEMO's by more than the
margin, or when DEMO-only accuracy comes within the margin of golden while beating the history
as DEMO by more than the margin, or when, on the rows whose DEMO differs from the history as DEMO
(none, for the release's template DEMO), DEMO's recall exceeds the history-as-DEMO's there by
more than the margin: a partial leak, the target's direction summarized with the history, changes
a few rows, too few to move the means. Files without a golden direction (benchmarks) are "not
applicable". A DEMO whose text names no pole label (an LLM's free wording) reads as no traits,
so the audit cannot see through it.
"""

from __future__ import annotations

import numpy as np

from alignx.persona import traits
from alignx.taxonomy import NEUTRAL, profile
from alignx.orientation import margins
from stages.evaluate.predictors import ProfilePredictor, demo_text, profile_from_labels

LEAK, CLEAR, NOT_APPLICABLE = "LEAK", "clear", "not applicable"


def history_as_demo(demo: np.ndarray, history_directions: list[np.ndarray]) -> np.ndarray:
    """Profile (90,) of the history summarized by DEMO's documented rule (``traits``) at as many
    traits as ``demo`` (the example's DEMO read back, (90,)) names, read back from its labels."""
    return profile_from_labels(traits(history_directions, int((demo != NEUTRAL).sum())))


def recall_of_golden(prof: np.ndarray, golden: np.ndarray) -> float | None:
    """Share of golden's non-neutral dimensions that ``prof`` holds on the same pole (None: none)."""
    strong = golden != NEUTRAL
    return float((prof[strong] == golden[strong]).mean()) if strong.any() else None


def personas(e: dict, predictor: ProfilePredictor) -> dict[str, np.ndarray | None]:
    """The profiles (each (90,)) the audit compares for one example: golden, demo, history as
    DEMO, and the raw history (None where the example has no history directions)."""
    dirs = predictor.history_directions(e)
    demo = profile_from_labels(demo_text(e))
    return {"golden": np.asarray(e["Preference Direction"], dtype=float), "demo": demo,
            "history_as_demo": history_as_demo(demo, dirs) if dirs else None,
            "history": profile(np.stack(dirs)) if dirs else None}


def text_recall(profiles: list[dict]) -> dict[str, float | int]:
    """Mean recall of the golden direction by DEMO, the history as DEMO and the raw history, over
    the examples with history directions and a golden direction that is not all neutral."""
    rows = [(recall_of_golden(p["demo"], p["golden"]), p) for p in profiles if p["history"] is not None]
    rows = [(d, p) for d, p in rows if d is not None]
    mean = (lambda xs: float(np.mean(xs)) if xs else float("nan"))
    return {"demo": mean([d for d, _ in rows]),
            "history_as_demo": mean([recall_of_golden(p["history_as_demo"], p["golden"]) for _, p in rows]),
            "history": mean([recall_of_golden(p["history"], p["golden"]) for _, p in rows]), "n": len(rows)}


def accuracy(examples: list[dict], profiles: list[dict], predictor: ProfilePredictor) -> dict[str, float]:
    """The profile predictor's accuracy per persona (golden, demo, history_as_demo, history) on
    the same examples; a missing history is the neutral profile (every target a miss)."""
    neutral = np.full(len(profiles[0]["golden"]), NEUTRAL)
    directions = predictor.target_directions(examples)  # once for the four personas
    return {k: float((margins(directions, np.stack([p[k] if p[k] is not None else neutral
                                                    for p in profiles])) > 0).mean())
            for k in ("golden", "demo", "history_as_demo", "history")}


def audit(examples: list[dict], predictor: ProfilePredictor, margin: float) -> dict:
    """The audit's verdict and figures.

    ``examples``: rows carrying every signal (a release's persona_type "all" rows, or a
    benchmark's rows); ``predictor``: the profile predictor with the annotator that built the
    pairs (it rates the targets' responses, and any history item without a direction)."""
    examples = [e for e in examples if e.get("Preference Direction") is not None]
    if not examples:
        return {"status": NOT_APPLICABLE, "reason": "no golden direction (Preference Direction) in these examples",
                "margin": margin}
    profiles = [personas(e, predictor) for e in examples]
    recall, acc = text_recall(profiles), accuracy(examples, profiles, predictor)
    # A DEMO written by the documented template from the history IS the history as DEMO, row by
    # row; a row where it is not was written from something else. On those rows alone a partial
    # leak (the target's direction among what was summarized) shows as DEMO recalling more of the
    # target than the history as DEMO does, too little to move the means over all rows.
    differs = text_recall([p for p in profiles if p["history_as_demo"] is not None
                           and not np.array_equal(p["demo"], p["history_as_demo"])])
    out = {"margin": margin, "demo_text_recall": _round(recall["demo"]),
           "history_as_demo_recall": _round(recall["history_as_demo"]), "history_recall": _round(recall["history"]),
           "recall_examples": recall["n"], "accuracy_examples": len(examples),
           "profile_accuracy": {k: round(v, 4) for k, v in acc.items()},
           "rows_demo_differs": differs["n"],
           "differing_rows_recall": {"demo": _round(differs["demo"]),
                                     "history_as_demo": _round(differs["history_as_demo"])}}
    reasons = []
    if differs["n"] and differs["demo"] > differs["history_as_demo"] + margin:
        reasons.append(f"on the {differs['n']} rows whose DEMO is not the history summarized by its documented rule, "
                       f"DEMO names {100 * differs['demo']:.1f}% of the target's own direction, the history summarized "
                       f"the same way {100 * differs['history_as_demo']:.1f}%")
    if recall["n"] and recall["demo"] > recall["history_as_demo"] + margin:
        reasons.append(f"the DEMO text names {100 * recall['demo']:.1f}% of the target's own direction, the history "
                       f"summarized the same way only {100 * recall['history_as_demo']:.1f}% "
                       f"(margin {100 * margin:.1f} points)")
    if acc["demo"] >= acc["golden"] - margin and acc["demo"] > acc["history_as_demo"] + margin:
        reasons.append(f"DEMO-only accuracy {100 * acc['demo']:.1f}% is within {100 * margin:.1f} points of the "
                       f"golden direction's {100 * acc['golden']:.1f}% and beats the history summarized the same "
                       f"way ({100 * acc['history_as_demo']:.1f}%)")
    out["status"] = LEAK if reasons else CLEAR
    out["reasons"] = reasons
    return out


def _round(x: float) -> float | None:
    """4 places, None for NaN (no example to average; JSON has no NaN)."""
    return None if x != x else round(x, 4)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def summary(result: dict) -> str:
    """One line for the report and the log."""
    if result["status"] == NOT_APPLICABLE:
        return f"Leakage audit: not applicable ({result['reason']})."
    acc = result["profile_accuracy"]
    figures = (f"DEMO text recall of the target's direction {_pct(result['demo_text_recall'])} vs history as "
               f"DEMO {_pct(result['history_as_demo_recall'])} (raw history {_pct(result['history_recall'])}, "
               f"n={result['recall_examples']}); rows whose DEMO is not the history as DEMO: "
               f"{result['rows_demo_differs']}; profile accuracy DEMO-only {100 * acc['demo']:.1f}% vs history as "
               f"DEMO {100 * acc['history_as_demo']:.1f}% (raw history {100 * acc['history']:.1f}%), golden "
               f"{100 * acc['golden']:.1f}% (n={result['accuracy_examples']}); margin {100 * result['margin']:.1f} points")
    if result["status"] == LEAK:
        return "LEAKAGE: the Demographic Information reveals the label: " + "; ".join(result["reasons"]) + f". ({figures})"
    return f"Leakage audit: clear. {figures}."
