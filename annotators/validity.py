"""How far to trust each dimension: the configured annotator against the hand-labelled reference
set (data/validation/, its **test** split) and the P-SOUPS student / PhD pairs, plus the
agreement of the reference set's two labellers. ``alignx validate-annotator`` runs it and writes
``resources/validity.json`` (``PUBLISHED``): the published validity of the bundled annotator,
committed with the code and rules it measured, which the dataset card cites (``published``).
bench/validity.py adds real builds and throughput to the same report in bench/results/.

Measures, per dimension and per group of dimensions (pooled over the group's items x dimensions):

- ``evidence_precision``: of the (item, dimension) cells the annotator gives evidence on, the
  share the labeller also gave evidence on; ``evidence_recall``: the converse;
- ``sign_accuracy``: where both give evidence, the share with the same sign;
- ``kappa``: Cohen's kappa over three classes per cell (no evidence, + , -);
- pairs (reference pairs, test split): ``direction_accuracy`` where both give a direction
  (alignx/directions.py rules on the annotator's side, with the raw measures of both sides where
  the backend computes them: rule 3 on the relative dimensions; absent = 0.5 on the
  labeller's), and the annotator's ``direction_coverage`` (share of labelled directions it also
  gives); per dimension also ``three_class_agreement`` (0 / 0.5 / 1 against the labels, every
  pair);
- item pairs (every pair of labelled test items), on each relative dimension
  (``alignx.directions.relative_rules``): the same two measures against the direction of the
  two labelled intensities where they differ (the complexity formula's weights are fitted on the
  dev items' intensities, its gap on the dev sibling pairs' directions);
- ``by_round``: the rated dimensions' measures on each labelling round's test items alone (a round
  labelled after the rules were fitted checks them afresh);
- P-SOUPS: per key dimension the pair accuracy with ties counted as misses, the tie share, and
  the accuracy over non-tied pairs.

Agreement of labels_a and labels_b on the ids of double_ids.txt: kappa on evidence (present /
absent) and on the three classes, per group; dimensions of ``SINGLE_LABELLED`` (relabelled by one
labeller after a guideline change) are left out of it. On the sibling pairs, the three-class kappa
of the directions of ``PAIR_DOUBLE_LABELLED`` (both labellers, all 112 pairs).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from alignx.directions import gate, pair_direction, relative_direction, relative_rules
from alignx.taxonomy import N_DIMENSIONS, load_taxonomy
from annotators import backend, cache_path, label, make, make_spend, reference
from annotators.ratings import Item, RatingCache, Result, cache_key

ROOT = Path(__file__).resolve().parents[1]
VALIDATION = ROOT / "data" / "validation"
SHARED_DATA = Path(os.environ.get("ALIGNX_SHARED_DATA", ROOT.parent / "shared" / "data"))
P_SOUPS = SHARED_DATA / "benchmarks" / "p-soups_student_phd.json"
#: The published validity report (``alignx validate-annotator``'s default output).
PUBLISHED = Path(__file__).parent / "resources" / "validity.json"
#: P-SOUPS key dimensions: name -> (taxonomy words, direction expected when the PhD persona chose)
P_SOUPS_DIMENSIONS = {
    "complexity": ("complexity of the statement", 1.0),
    "concise_detailed": ("Concise communication style", 0.0),
    "age": ("Age group", 0.0),
}
#: Dimensions labels_b does not label under the current guidelines (docs/annotation_guidelines.md
#: says why): left out of the labellers' agreement.
SINGLE_LABELLED = (46,)
#: Dimensions labels_b labels on the sibling pairs (all 112, blind to labels_a): complexity 46,
#: labelled on pairs on 2026-11-28 (data/validation/README.md).
PAIR_DOUBLE_LABELLED = (46,)
GROUP_NAMES = {  # short names for the report
    "Demographics & Dispositional Traits": "demographics_traits", "Work & Life Style": "work_life_style",
    "Core Psychological Needs": "psychological_needs",
    "Content Quality & Response Evaluation Criteria": "quality_criteria", "Interests": "interests",
}


# -- the reference set --------------------------------------------------------------------------
def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def label_matrix(labels: dict) -> np.ndarray:
    """Shape (90,) int8: the labelled intensity per dimension, 0 = no evidence."""
    out = np.zeros(N_DIMENSIONS, dtype=np.int8)
    for k, v in labels.items():
        out[int(k)] = v["intensity"]
    return out


def direction_vector(direction: dict) -> np.ndarray:
    out = np.full(N_DIMENSIONS, 0.5)
    for k, v in direction.items():
        out[int(k)] = float(v)
    return out


def load_reference(validation: Path = VALIDATION, split: str | None = "test") -> dict:
    """Items, pairs and both labellers' labels (dicts by id), restricted to ``split`` (None: dev
    and test; the train split is for fitting and never measured here). Rounds 1-4 and round 5
    alike (``annotators.reference``)."""
    return reference.load(validation, ("dev", "test") if split is None else (split,))


def context(post: str, parent: str) -> str:
    """What an LLM annotator sees as the post: the post, then the parent comment when there is one."""
    return post + (f"\n\nParent comment:\n{parent}" if parent else "")


# -- agreement measures -------------------------------------------------------------------------
def classes(x: np.ndarray) -> np.ndarray:
    """0 no evidence, 1 positive, 2 negative."""
    return np.where(x > 0, 1, np.where(x < 0, 2, 0))


def cohen_kappa(a: np.ndarray, b: np.ndarray) -> float | None:
    """Cohen's kappa of two label arrays (any shape, same classes); None when undefined (one class
    only on both sides)."""
    a, b = np.ravel(a), np.ravel(b)
    if a.size == 0:
        return None
    cats = np.union1d(a, b)
    po = float((a == b).mean())
    pe = float(sum((a == c).mean() * (b == c).mean() for c in cats))
    return None if pe >= 1.0 else round((po - pe) / (1 - pe), 3)


def cell_metrics(ann: np.ndarray, ref: np.ndarray) -> dict:
    """Evidence precision / recall, sign accuracy and kappa of annotator intensities ``ann`` against
    reference intensities ``ref`` (same shape, 0 = no evidence)."""
    a, r = ann != 0, ref != 0
    both = a & r

    def ratio(x, y):
        return None if y == 0 else round(float(x) / float(y), 3)

    return {
        "annotator_cells": int(a.sum()), "reference_cells": int(r.sum()),
        "evidence_precision": ratio(both.sum(), a.sum()), "evidence_recall": ratio(both.sum(), r.sum()),
        "sign_accuracy": ratio((np.sign(ann[both]) == np.sign(ref[both])).sum(), both.sum()),
        "kappa": cohen_kappa(classes(ann), classes(ref)),
    }


def groups() -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for d in load_taxonomy():
        out.setdefault(GROUP_NAMES.get(d.group, d.group), []).append(d.index)
    return out


def labeller_agreement(ref: dict) -> dict:
    """Kappa of labels_a against labels_b on the double-labelled items, per group and overall, and
    on the sibling pairs' directions for the dimensions labelled twice there (``pairs``)."""
    ids = [i for i in ref["double_ids"] if i in ref["labels"]["labels_b"] and i in ref["labels"]["labels_a"]]
    a = np.stack([label_matrix(ref["labels"]["labels_a"][i]["labels"]) for i in ids])
    b = np.stack([label_matrix(ref["labels"]["labels_b"][i]["labels"]) for i in ids])
    a[:, list(SINGLE_LABELLED)] = b[:, list(SINGLE_LABELLED)] = 0
    out = {"items": len(ids), "left_out": list(SINGLE_LABELLED), "groups": {}}
    for name, dims in {"all": list(range(N_DIMENSIONS)), **groups()}.items():
        out["groups"][name] = {
            "kappa_evidence": cohen_kappa(a[:, dims] != 0, b[:, dims] != 0),
            "kappa_three_class": cohen_kappa(classes(a[:, dims]), classes(b[:, dims])),
            "cells_a": int((a[:, dims] != 0).sum()), "cells_b": int((b[:, dims] != 0).sum()),
        }
    per_dim = {}
    for d in range(N_DIMENSIONS):
        if (a[:, d] != 0).sum() + (b[:, d] != 0).sum() >= 5:
            per_dim[str(d)] = {"kappa_three_class": cohen_kappa(classes(a[:, d]), classes(b[:, d])),
                               "cells_a": int((a[:, d] != 0).sum()), "cells_b": int((b[:, d] != 0).sum())}
    out["dimensions"] = per_dim
    out["pairs"] = pair_agreement(ref)
    return out


def pair_agreement(ref: dict) -> dict:
    """On the sibling pairs both labellers labelled: per dimension of PAIR_DOUBLE_LABELLED, the
    three-class kappa of their directions, how many each gave, and how many point opposite ways."""
    la, lb = ref["labels"]["labels_a"], ref["labels"]["labels_b"]
    ids = [p["id"] for p in ref["pairs"] if p["id"] in la and p["id"] in lb]
    if not ids:
        return {"pairs": 0, "dimensions": {}}
    a = np.stack([direction_vector(la[i]["direction"]) for i in ids])
    b = np.stack([direction_vector(lb[i]["direction"]) for i in ids])
    return {"pairs": len(ids), "dimensions": {str(d): {
        "kappa_three_class": cohen_kappa(a[:, d], b[:, d]),
        "directions_a": int((a[:, d] != 0.5).sum()), "directions_b": int((b[:, d] != 0.5).sum()),
        "opposite": int((np.abs(a[:, d] - b[:, d]) == 1).sum())} for d in PAIR_DOUBLE_LABELLED}}


# -- rating with the configured annotator ---------------------------------------------------------
def rate(p: dict, data_dir: Path, items: list[Item], show_progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(ratings, evidence), each shape (len(items), 90), from the configured annotator through the
    rating cache (a rerun sends nothing already answered)."""
    annotator = make(p, data_dir)
    cache = RatingCache(cache_path(data_dir))
    keys = [cache_key(annotator.backend, annotator.model, annotator.version, it.post, it.response) for it in items]
    results: dict[str, Result] = {k: Result(k, r, e) for k, (r, e) in cache.get_ok(keys).items()}
    todo = list({k: it for it, k in zip(items, keys) if k not in results}.items())

    def on_result(batch: list[Result]) -> None:
        cache.put(batch)
        results.update({r.key: r for r in batch})

    if todo:
        annotator.annotate([it for _, it in todo], [k for k, _ in todo], on_result, make_spend(p), show_progress)
    failed = [k for k in keys if not results[k].ok]
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(keys)} texts could not be rated "
                           f"(first: {results[failed[0]].error}); rerun to retry them")
    return (np.array([results[k].ratings for k in keys], dtype=np.int8),
            np.array([results[k].evidence for k in keys], dtype=np.int8))


def ruled_dimensions(p: dict) -> list[int]:
    """Dimensions the offline annotator has a fitted rule for (none for the LLM backends)."""
    return backend(p["backend"]).ruled_dimensions()


def reference_validity(p: dict, data_dir: Path, ref: dict) -> dict:
    """The annotator against the reference items and pairs of ``ref`` (one split)."""
    tax = load_taxonomy()
    items = ref["items"]
    labels_a = ref["labels"]["labels_a"]
    ratings, evidence = rate(p, data_dir, [Item(it["id"], context(it["post"], it["parent"]), it["text"])
                                           for it in items])
    ann = gate(ratings, evidence)
    gold = np.stack([label_matrix(labels_a[it["id"]]["labels"]) for it in items])
    rated = sorted(int(d) for d in np.flatnonzero((ann != 0).any(axis=0)))
    dims = {}
    for d in range(N_DIMENSIONS):
        m = cell_metrics(ann[:, d], gold[:, d])
        if m["annotator_cells"] or m["reference_cells"]:
            dims[str(d)] = {"name": tax[d].description, **m}
    by_group = {name: cell_metrics(ann[:, ds], gold[:, ds]) for name, ds in groups().items()}
    # per labelling round: a round labelled after the rules were fitted is a fresh check of them
    # (data/validation/README.md says which)
    rounds = np.array([it.get("round", 1) for it in items])
    by_round = {}
    for r in sorted(set(rounds.tolist())):
        m = rounds == r
        by_round[str(r)] = {"items": int(m.sum()), "dimensions": {
            str(d): cell_metrics(ann[m, d], gold[m, d]) for d in rated if (ann[m, d] != 0).any()}}
    # pairs: both sides rated, directions by the project's rules, against the labelled directions
    pairs = ref["pairs"]
    pa = [Item(x["id"] + "-a", context(x["context"], x["prompt"]), x["a"]) for x in pairs]
    pb = [Item(x["id"] + "-b", context(x["context"], x["prompt"]), x["b"]) for x in pairs]
    ra, ea = rate(p, data_dir, pa)
    rb, eb = rate(p, data_dir, pb)
    ours = measured_pair_direction(p, gate(ra, ea), gate(rb, eb), [x["a"] for x in pairs], [x["b"] for x in pairs])
    ours = ours.reshape(len(pairs), N_DIMENSIONS)
    theirs = np.stack([direction_vector(labels_a[x["id"]]["direction"]) for x in pairs])
    both = (ours != 0.5) & (theirs != 0.5)
    pair_dims = {}
    for d in range(N_DIMENSIONS):
        if (ours[:, d] != 0.5).any() or (theirs[:, d] != 0.5).any():
            pair_dims[str(d)] = {
                "annotator_directions": int((ours[:, d] != 0.5).sum()),
                "reference_directions": int((theirs[:, d] != 0.5).sum()),
                "direction_accuracy": round(float((ours[both[:, d], d] == theirs[both[:, d], d]).mean()), 3)
                if both[:, d].any() else None,
                # 0 / 0.5 / 1 against the labelled direction on every pair (absent = 0.5: no difference)
                "three_class_agreement": round(float((ours[:, d] == theirs[:, d]).mean()), 3),
            }
    nn = (ann != 0).sum(axis=1)
    item_measures = backend(p["backend"]).measures([it["text"] for it in items])
    return {
        "items": len(items), "pairs": len(pairs), "dimensions_rated": rated,
        # a dimension the offline annotator has a rule for but rated on no test item is rated in a
        # build all the same: unmeasured, not "never rated"
        "dimensions_unmeasured": [d for d in ruled_dimensions(p) if d not in rated],
        "dimensions_never_rated": [d for d in range(N_DIMENSIONS) if d not in rated and d not in ruled_dimensions(p)],
        "non_neutral_per_item": {"median": float(np.median(nn)), "max": int(nn.max()) if len(nn) else 0},
        "by_round": by_round,
        "reference_non_neutral_per_item": float(np.median((gold != 0).sum(axis=1))),
        "groups": by_group, "dimensions": dims,
        "pair_directions": {
            "direction_accuracy": round(float((ours[both] == theirs[both]).mean()), 3) if both.any() else None,
            "direction_coverage": round(float(both.sum() / max(1, (theirs != 0.5).sum())), 3),
            "non_neutral_per_pair_median": float(np.median((ours != 0.5).sum(axis=1))),
            "dimensions": pair_dims,
        },
        "item_pairs": item_pair_validity(ann, gold, item_measures),
    }


def measured_pair_direction(p: dict, gated_a: np.ndarray, gated_b: np.ndarray, texts_a: list[str],
                            texts_b: list[str]) -> np.ndarray:
    """(n, 90) pair directions of a over b as a release gets them from backend ``p["backend"]``:
    rule 2 on the gated intensities, rule 3 on the raw measures where the backend has them."""
    measures = backend(p["backend"]).measures
    return pair_direction(gated_a, gated_b, measures_chosen=measures(texts_a), measures_rejected=measures(texts_b))


def item_pair_validity(ann: np.ndarray, gold: np.ndarray, measures: np.ndarray | None) -> dict:
    """Per relative dimension, over every pair (i < j) of the labelled items whose labelled
    intensities differ: the accuracy and coverage of the pair direction against the sign of the
    labelled difference, by the relative rule (``measures``: shape (n, len(MEASURES)), None for
    a backend without them: no relative rule) and by the per-comment rule (gated intensities
    ``ann``, rule 2) for comparison. ``gold``: the labelled intensities, shape (n, 90)."""
    out = {}
    i, j = np.triu_indices(len(gold), 1)
    for rule in relative_rules():
        d = rule["dimension"]
        diff = gold[i, d].astype(np.int16) - gold[j, d]
        labelled = diff != 0
        want = (diff[labelled] > 0).astype(float)
        per_comment = pair_direction(ann[i, d][labelled, None], ann[j, d][labelled, None])[:, 0]
        row = {"labelled_pairs": int(labelled.sum()), "per_comment_rule": _accuracy(per_comment, want)}
        if measures is not None:
            relative = relative_direction(measures[i], measures[j], rule)[labelled]
            row["relative_rule"] = _accuracy(relative, want)
        out[str(d)] = row
    return out


def _accuracy(ours: np.ndarray, want: np.ndarray) -> dict:
    """Accuracy where ``ours`` gives a direction, and its coverage of the labelled pairs."""
    given = ours != 0.5
    return {"direction_accuracy": round(float((ours[given] == want[given]).mean()), 3) if given.any() else None,
            "direction_coverage": round(float(given.mean()), 3) if len(want) else None}


def p_soups_validity(p: dict, data_dir: Path, path: Path = P_SOUPS) -> dict:
    """Pair accuracy on the P-SOUPS student / PhD pairs per key dimension (ties count as misses),
    by the project's rules (with the raw measures where the backend computes them), and by the
    per-comment rule alone (rule 2, gated intensities) for comparison."""
    rows = json.loads(path.read_text())
    phd = np.array(["PhD" in r["ground_truth_persona"] for r in rows])
    rc, ec = rate(p, data_dir, [Item(f"c{i}", r["prompt"], r["chosen"]) for i, r in enumerate(rows)])
    rr, er = rate(p, data_dir, [Item(f"r{i}", r["prompt"], r["rejected"]) for i, r in enumerate(rows)])
    gc, gr = gate(rc, ec), gate(rr, er)
    directions = measured_pair_direction(p, gc, gr, [r["chosen"] for r in rows], [r["rejected"] for r in rows])
    per_comment = pair_direction(gc, gr)
    out = {"pairs": len(rows)}
    tax = load_taxonomy()
    for name, (words, phd_dir) in P_SOUPS_DIMENSIONS.items():
        d = tax.find(words).index
        expected = np.where(phd, phd_dir, 1.0 - phd_dir)
        ours = directions[:, d]
        tied = ours == 0.5
        out[name] = {
            "dimension": d, "pair_accuracy": round(float((ours == expected).mean()), 3),
            "ties": round(float(tied.mean()), 3),
            "non_tied_accuracy": round(float((ours[~tied] == expected[~tied]).mean()), 3) if (~tied).any() else None,
            "per_comment_rule_accuracy": round(float((per_comment[:, d] == expected).mean()), 3),
        }
    return out


def validate(p: dict, data_dir: Path, validation: Path = VALIDATION, p_soups: Path | None = P_SOUPS) -> dict:
    """The whole report (see the module docstring)."""
    test = load_reference(validation, "test")
    return {
        "annotator": label(p),
        "reference_test": reference_validity(p, data_dir, test),
        "labeller_agreement": labeller_agreement(load_reference(validation, None)),
        "p_soups": p_soups_validity(p, data_dir, p_soups) if p_soups is not None and p_soups.exists() else None,
    }


def published(name: str) -> dict | None:
    """The published validity report (``PUBLISHED``) when it measured annotator ``name``
    (``backend:model``, ``annotators.label``), else None."""
    report = json.loads(PUBLISHED.read_text()) if PUBLISHED.exists() else None
    return report if report and report.get("annotator") == name else None
