"""Leakage audit: does the Demographic Information know more about the target than the history?

A clean release writes DEMO from the history's profile only, so DEMO can state no more of the
target's own Preference Direction (the golden direction) than the history does. A leaky one
(what the released AlignX's DEMO 91.44 vs golden 91.36 suggests) writes DEMO from the target.
Two measurements, both against the golden direction:

* **text recall**: over the golden direction's non-neutral dimensions, the share that the
  DEMO text names with the same pole, against the same share for the profile of the history's
  own directions (UGC and PAIR items). No model is involved, so it works at any scale,
  including a tiny release where every predictor is at 100%.
* **accuracy**: the profile predictor's DEMO-only accuracy against its golden-direction
  accuracy, and against its history-only (UGC, PAIR) accuracy.

The audit flags a leak when DEMO's recall exceeds the history's by more than the margin, or
when DEMO-only accuracy comes within the margin of golden while beating the history personas
by more than the margin. Files without a golden direction (benchmarks) are "not applicable".
"""

from __future__ import annotations

import numpy as np

from alignx.taxonomy import profile
from stages.evaluate.predictors import DEMO, PAIR, UGC, profile_from_labels

LEAK, CLEAR, NOT_APPLICABLE = "LEAK", "clear", "not applicable"


def history_profile(e: dict) -> np.ndarray | None:
    """Profile (90,) of the history's released directions, or None when it has none."""
    dirs = [x["Preference Direction"] for x in (e.get(UGC) or []) + (e.get(PAIR) or [])
            if x.get("Preference Direction") is not None]
    return profile(np.asarray(dirs, dtype=float)) if dirs else None


def recall_of_golden(prof: np.ndarray, golden: np.ndarray) -> float | None:
    """Share of golden's non-neutral dimensions that ``prof`` holds on the same pole (None: none)."""
    strong = golden != 0.5
    return float((prof[strong] == golden[strong]).mean()) if strong.any() else None


def text_recall(examples: list[dict]) -> tuple[float, float, int]:
    """(DEMO recall, history recall, n examples) averaged over examples that have both signals."""
    demo, hist = [], []
    for e in examples:
        golden, h = e.get("Preference Direction"), history_profile(e)
        if golden is None or h is None or not e.get(DEMO):
            continue
        golden = np.asarray(golden, dtype=float)
        d, r = recall_of_golden(profile_from_labels(e[DEMO]), golden), recall_of_golden(h, golden)
        if d is not None:
            demo.append(d)
            hist.append(r)
    return (float(np.mean(demo)) if demo else float("nan"), float(np.mean(hist)) if hist else float("nan"),
            len(demo))


def audit(examples: list[dict], accuracy: dict[str, float], margin: float) -> dict:
    """The audit's verdict and figures.

    ``examples``: rows carrying every signal (a release's persona_type "all" rows, or a
    benchmark's rows); ``accuracy``: the profile predictor's accuracy per persona type
    (ugc, pair, demo, golden; any may be missing)."""
    if not examples or all(e.get("Preference Direction") is None for e in examples):
        return {"status": NOT_APPLICABLE, "reason": "no golden direction (Preference Direction) in these examples",
                "margin": margin}
    demo_recall, history_recall, n = text_recall(examples)
    out = {"margin": margin, "demo_text_recall": round(demo_recall, 4), "history_recall": round(history_recall, 4),
           "recall_examples": n, "profile_accuracy": {k: round(v, 4) for k, v in accuracy.items()}}
    reasons = []
    if n and demo_recall > history_recall + margin:
        reasons.append(f"the DEMO text names {100 * demo_recall:.1f}% of the target's own direction, the history "
                       f"only {100 * history_recall:.1f}% (margin {100 * margin:.1f} points)")
    demo, golden = accuracy.get("demo"), accuracy.get("golden")
    history = [accuracy[p] for p in ("ugc", "pair") if p in accuracy]
    if (demo is not None and golden is not None and demo >= golden - margin
            and history and demo > max(history) + margin):
        reasons.append(f"DEMO-only accuracy {100 * demo:.1f}% is within {100 * margin:.1f} points of the golden "
                       f"direction's {100 * golden:.1f}% and beats the history's {100 * max(history):.1f}%")
    out["status"] = LEAK if reasons else CLEAR
    out["reasons"] = reasons
    return out


def summary(result: dict) -> str:
    """One line for the report and the log."""
    if result["status"] == NOT_APPLICABLE:
        return f"Leakage audit: not applicable ({result['reason']})."
    acc = result.get("profile_accuracy", {})
    figures = (f"DEMO text recall of the target's direction {100 * result['demo_text_recall']:.1f}% vs history "
               f"{100 * result['history_recall']:.1f}% (n={result['recall_examples']}); profile DEMO-only accuracy "
               + (f"{100 * acc['demo']:.1f}%" if "demo" in acc else "-") + " vs golden "
               + (f"{100 * acc['golden']:.1f}%" if "golden" in acc else "-") + f"; margin {100 * result['margin']:.1f} points")
    if result["status"] == LEAK:
        return "LEAKAGE: the Demographic Information reveals the label: " + "; ".join(result["reasons"]) + f". ({figures})"
    return f"Leakage audit: clear. {figures}."
