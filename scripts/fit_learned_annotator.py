"""Fit the offline annotator's learned instrument (annotators/learned.py) on the reference set's
**train** split, its thresholds on the **dev** split, and keep it on the dimensions where it
validates better on dev than the rules (annotators/resources/offline_calibration.json) do.

"Better": on dev, the instrument that makes more right calls (evidence where the labeller saw
evidence, with the right sign) wins the dimension; the learned model must also have passed its
own thresholds' bar (annotators/learned.py). The test split is never read here.

Run after changing the labels, the features or the rules (``make annotator``); the output is
byte-identical for the same inputs:

    .venv/bin/python scripts/fit_learned_annotator.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from alignx.embeddings import STATIC_MODEL  # noqa: E402
from annotators import learned, reference  # noqa: E402
from annotators.embedding import EmbeddingAnnotator  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def intensities(items: list[dict], labels: dict[str, dict]) -> np.ndarray:
    """(n, 90) int8: labeller A's intensity per item and dimension, 0 = no evidence."""
    y = np.zeros((len(items), 90), dtype=np.int8)
    for i, it in enumerate(items):
        for d, v in labels[it["id"]].items():
            y[i, int(d)] = v["intensity"]
    return y


def right_calls(pred: np.ndarray, y: np.ndarray) -> int:
    """Predictions with evidence where the labeller saw evidence, with the labeller's sign."""
    return int(((pred != 0) & (y != 0) & (np.sign(pred) == np.sign(y))).sum())


def main() -> None:
    train = reference.load(splits=("train",))
    dev = reference.load(splits=("dev",))
    rules_only = EmbeddingAnnotator(STATIC_MODEL, ROOT / "data" / "cache" / "embeddings", learned=False)

    def matrix(items):
        texts = [it["text"] for it in items]
        emb = rules_only.embedder.encode(texts)
        feats = rules_only.features(texts, emb)
        return feats, emb

    feats_t, emb_t = matrix(train["items"])
    feats_d, emb_d = matrix(dev["items"])
    names = learned.feature_names(feats_t)
    x_t = learned.feature_matrix(feats_t, emb_t, names)
    x_d = learned.feature_matrix(feats_d, emb_d, names)
    y_t = intensities(train["items"], reference.item_labels(train))
    y_d = intensities(dev["items"], reference.item_labels(dev))
    meta, arrays = learned.fit(x_t, y_t, x_d, y_d, names, STATIC_MODEL)

    # per dimension: the learned model where it makes more right calls on dev than the rules
    rule_ratings, _ = rules_only.rate([it["text"] for it in dev["items"]])
    model = learned.LearnedModel(meta, arrays)
    ours, _, _ = model.rate(x_d)
    keep = []
    for k, d in enumerate(model.dims):
        mine, theirs = right_calls(ours[:, d], y_d[:, d]), right_calls(rule_ratings[:, d], y_d[:, d])
        meta["dimensions"][k]["dev"]["right_calls"] = mine
        meta["dimensions"][k]["dev"]["rules_right_calls"] = theirs
        if mine > theirs:
            keep.append(k)
        print(f"{d:>2} learned {mine:>4} rules {theirs:>4} -> {'learned' if mine > theirs else 'rules'}")
    meta["dimensions"] = [meta["dimensions"][k] for k in keep]
    for k in ("weights", "bias", "pole"):
        arrays[k] = arrays[k][keep]
    meta["fitted_on"] = "data/validation train split (fit), dev split (thresholds, choice against the rules)"
    learned.write(meta, arrays)
    print(f"learned instrument on {len(keep)} dimensions ({len(train['items'])} train items, "
          f"{len(dev['items'])} dev items) -> {learned.META_FILE}")


if __name__ == "__main__":
    main()
