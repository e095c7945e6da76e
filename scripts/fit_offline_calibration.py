"""Fit the offline annotator's rules (annotators/resources/offline_calibration.json) on the
**dev** split of the hand-labelled reference set (data/validation/, labels_a.jsonl). The test
split is never read here; `alignx validate-annotator` reports on it.

For each candidate (dimension, feature, comparison, sign) of CANDIDATES, the intensity-1 threshold
``t1`` is the one with the highest dev recall among those where the rule's dev predictions number
at least MIN_PREDICTIONS, their evidence precision (share of predictions the labeller also gave
evidence on that dimension) is at least MIN_PRECISION with a Wilson lower bound of at least
MIN_PRECISION_LOWER, and their sign accuracy at least MIN_SIGN_ACCURACY. Per dimension and pole
the candidate with the best dev recall is kept. ``t2`` (intensity 2, evidence strong) is the threshold past ``t1`` that best
separates the labeller's intensity 2 from 1 among the dev items past ``t1`` rated on that side,
kept when at least MIN_PREDICTIONS of them are 2 and it classifies at least STRONG_SHARE of them
right, beating calling them all 1.
A candidate that finds no ``t1`` is left out:
the dimension is then never rated. Rules for both poles of one dimension are kept only when their
ranges cannot overlap.

Run after changing a feature, a lexicon, the topic descriptions, the embedding model or the
reference labels:

    PYTHONPATH=. python scripts/fit_offline_calibration.py
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from alignx.embeddings import STATIC_MODEL
from annotators import reference
from annotators.embedding import CALIBRATION_FILE, EmbeddingAnnotator, topics

ROOT = Path(__file__).resolve().parent.parent
VALIDATION = ROOT / "data" / "validation"
#: A rule's dev evidence precision must be at least MIN_PRECISION with its Wilson lower bound
#: (z = WILSON_Z) at least MIN_PRECISION_LOWER: a rule that barely passes on a handful of dev
#: predictions falls below the 0.6 target on test.
#: History: z = 1 and 6 predictions until 2026-11-27; rounds 2 and 3 of the reference set then showed
#: rules fitted that way below 0.6 on test (42 honesty 0.14 and 0.36, 66 current events 0.52,
#: 84 celebrities 0.50, each from 6-17 dev predictions), so the bound became one-sided 95%
#: (z = 1.64) over at least 8 predictions, fixed before round 4's labels existed; round 4's test
#: half is the fresh check of this setting (data/validation/README.md).
MIN_PRECISION = 0.7
MIN_PRECISION_LOWER = 0.6
WILSON_Z = 1.64
MIN_SIGN_ACCURACY = 0.85
MIN_PREDICTIONS = 8
STRONG_SHARE = 0.6
#: (dimension, feature, comparison, sign): the instrument known to measure each group
CANDIDATES = [
    (16, "words", "<=", 1), (16, "words", ">=", -1),  # concise / detailed: length
    (14, "words", "<=", 1), (14, "words", ">=", -1),  # superficial / deep interaction: length
    # agreeableness: VADER, courtesy and insult lexicons
    (5, "compound", ">=", 1), (5, "compound", "<=", -1), (5, "neg", ">=", -1),
    (5, "lex_polite", ">=", 1), (5, "lex_insult", ">=", -1),
    (15, "compound", "<=", 1), (15, "neg", ">=", 1), (15, "lex_disagree", ">=", 1),  # direct conflict handling
    (34, "neg", ">=", 1), (34, "compound", "<=", 1), (34, "lex_insult", ">=", 1),  # aggression
    (34, "lex_attack", ">=", 1), (5, "lex_attack", ">=", -1),  # hostility aimed at the person addressed
    (2, "lex_worry", ">=", 1), (2, "lex_calm", ">=", -1),  # neuroticism: worry and panic / calm under stress
    (4, "lex_open", ">=", 1),  # openness: curiosity, taking in new information, changing one's view
    (10, "lex_prudent", ">=", -1),  # conservative investment: DCA, diversify, stables
    (24, "lex_hold", ">=", 1),  # retention: holding, never selling
    (31, "lex_autonomy", ">=", 1),  # autonomy: self-custody, deciding for oneself
    (25, "lex_inviolacy", ">=", 1),  # inviolacy: defending one's own words or dignity
    (37, "lex_caring", ">=", 1),  # nurturance
    (39, "lex_73", ">=", 1),  # play: jokes and laughter (the humor lexicon)
    # 42 honesty (lex_honest) is no candidate: it passed dev three times (up to 15 of 18) and fell
    # below 0.6 on test three times (0.14, 0.36, 0.36 on rounds 2, 3 and 1-4; the last after the
    # tightened criteria): what the lexicon finds ("honestly", "to be fair") is a manner of speaking,
    # not a concern for honesty. Removed on that test evidence (data/validation/README.md says so).
    (43, "lex_sources", ">=", 1), (43, "links", ">=", 1), (44, "lex_helpful", ">=", 1),
    (45, "lex_coherent", ">=", 1),  # quality criteria: what the comment demands of statements
    # complexity of the statement (46, the AlignX / P-SOUPS sense: the level the comment is written
    # at): readability grade and syllables per word
    (46, "grade", ">=", 1), (46, "grade", "<=", -1),
    (46, "syllables_per_word", ">=", 1), (46, "syllables_per_word", "<=", -1),
    (72, "lex_72", ">=", 1), (72, "neg", ">=", 1),  # emotions: feeling words, negative affect
    # interests: a topic is present only where the text names it (its lexicon); how many of its
    # words, or how close the text's embedding is to the topic's description, decides the rest
    # (similarity alone rates the thread's subject on every comment of a single-subject thread)
    *((d, f"lex_{d}", ">=", 1) for d in range(47, 90)),
    *((d, f"lextopic_{d}", ">=", 1) for d in range(47, 90)),
]


FIXED_RULES: list[dict] = []  # every rule is fitted


def load_reference(split: str) -> tuple[list[dict], dict[str, dict]]:
    """The items of ``split`` (rounds 1-4 and round 5) and labeller A's labels by id."""
    ref = reference.load(splits=(split,))
    return ref["items"], reference.item_labels(ref)


def wilson_lower(k: int, n: int, z: float = WILSON_Z) -> float:
    """Wilson score lower bound of a proportion k / n."""
    p = k / n
    return (p + z * z / (2 * n) - z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)


def fit_rule(x: np.ndarray, y: np.ndarray, op: str, sign: int, bound: float | None = None) -> dict | None:
    """``x``: the feature, shape (n,); ``y``: labelled intensity on the dimension, shape (n,).
    ``bound``: a ``<=`` rule's threshold stays below it (the other pole's ``>=`` threshold)."""
    past = (lambda t: x >= t) if op == ">=" else (lambda t: x <= t)
    grid = np.unique(np.quantile(x, np.linspace(0.01, 0.99, 99)))
    values = np.unique(x)
    if len(values) <= 50:  # a count (a lexicon's matches): its own values, which quantiles skip
        grid = np.union1d(grid, values)
    if bound is not None:
        grid = grid[grid < bound]
    best = None
    for t in grid:
        p = past(t)
        if p.sum() < MIN_PREDICTIONS:
            continue
        has = y[p] != 0
        precision = has.mean()
        sign_acc = (np.sign(y[p][has]) == sign).mean() if has.any() else 0.0
        recall = (p & (np.sign(y) == sign)).sum() / max(1, (np.sign(y) == sign).sum())
        if precision >= MIN_PRECISION and wilson_lower(has.sum(), p.sum()) >= MIN_PRECISION_LOWER and sign_acc >= MIN_SIGN_ACCURACY and (best is None or recall > best[1]):
            best = (float(t), recall, precision, sign_acc, int(p.sum()))
    if best is None:
        return None
    t1 = best[0]
    # t2: the threshold past t1 that best separates intensity 2 from 1 among the dev items past
    # t1 the labeller rated on this side; kept when it classifies at least STRONG_SHARE of them
    side = past(t1) & (np.sign(y) == sign)
    strong = np.abs(y[side]) == 2
    t2, t2_acc = None, 0.0
    if strong.sum() >= MIN_PREDICTIONS:
        for t in grid:
            if not (t >= t1 if op == ">=" else t <= t1):
                continue
            acc = float((past(t)[side] == strong).mean())
            if acc > t2_acc:
                t2, t2_acc = float(t), acc
        if t2_acc < max(STRONG_SHARE, 1 - strong.mean() + 0.05):  # must beat calling them all 1
            t2 = None
    return {"t1": round(t1, 4), "t2": None if t2 is None else round(t2, 4),
            "dev": {"recall": round(float(best[1]), 3), "precision": round(float(best[2]), 3),
                    "sign_accuracy": round(float(best[3]), 3), "predictions": best[4]}}


def main() -> None:
    items, labels = load_reference("dev")
    annotator = EmbeddingAnnotator(STATIC_MODEL, ROOT / "data" / "cache" / "embeddings", calibration={"rules": []},
                                  learned=False)
    feats = annotator.features([it["text"] for it in items])
    rules = []
    for d, feature, op, sign in sorted(CANDIDATES, key=lambda c: c[2] != ">="):  # >= rules first
        y = np.array([labels[it["id"]].get(str(d), {}).get("intensity", 0) for it in items])
        other = [r for r in rules if r["dimension"] == d and r["feature"] == feature]
        fit = fit_rule(feats[feature], y, op, sign, bound=other[0]["t1"] if other and op == "<=" else None)
        if fit:
            rules.append({"dimension": d, "feature": feature, "op": op, "sign": sign, **fit})
    # one rule per pole (the best dev recall); two features on one dimension could overlap, so
    # then only the better one
    kept = []
    for d in sorted({r["dimension"] for r in rules}):
        poles = {}
        for r in (r for r in rules if r["dimension"] == d):
            if r["sign"] not in poles or r["dev"]["recall"] > poles[r["sign"]]["dev"]["recall"]:
                poles[r["sign"]] = r
        chosen = list(poles.values())
        if len(chosen) == 2 and chosen[0]["feature"] != chosen[1]["feature"]:
            chosen = [max(chosen, key=lambda r: r["dev"]["recall"])]
        kept += chosen
    kept += FIXED_RULES
    kept.sort(key=lambda r: (r["dimension"], -r["sign"]))
    cal = {"fitted_on": "data/validation dev split (rounds 1-5), labeller A", "items": len(items),
           "model": STATIC_MODEL, "topics": len(topics()), "rules": kept}
    CALIBRATION_FILE.write_text(json.dumps(cal, indent=1) + "\n")
    for r in kept:
        print(r["dimension"], r["feature"], r["op"], r["sign"], r["t1"], r["t2"], r["dev"])
    print(f"{len(kept)} rules over {len({r['dimension'] for r in kept})} dimensions -> {CALIBRATION_FILE}")


if __name__ == "__main__":
    main()
