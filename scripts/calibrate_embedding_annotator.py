"""Recompute stages/annotate/resources/embedding_calibration.json: the mean and standard deviation of
the embedding annotator's raw scores (anchor similarity differences and text features) over
the demo corpus comments, so its z-scores are comparable across dimensions.

Run after changing the anchors or the model: python scripts/calibrate_embedding_annotator.py
Changing the calibration changes the annotator's version (cached ratings are not reused).
"""

from __future__ import annotations

import json
from pathlib import Path

from stages.annotate.embedding import CALIBRATION_FILE, EmbeddingAnnotator
from alignx.dumps import iter_records
from alignx.embeddings import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    texts = [
        r["body"] for _, r in iter_records(ROOT / "data/sample/reddit/RC_2024-03.zst")
        if r["body"] not in ("[deleted]", "[removed]") and not r["author"].endswith(("Bot", "bot", "AutoModerator"))
    ]
    neutral = {"sim_mean": [0.0] * 90, "sim_std": [1.0] * 90, "feature_mean": [0.0, 0.0], "feature_std": [1.0, 1.0]}
    annotator = EmbeddingAnnotator(DEFAULT_MODEL, None, calibration=neutral)
    sims, feats = annotator.raw_scores(texts)
    cal = {
        "reference": f"data/sample/reddit/RC_2024-03.zst: {len(texts)} comments",
        "model": DEFAULT_MODEL,
        "sim_mean": [round(float(x), 6) for x in sims.mean(axis=0)],
        "sim_std": [round(float(x), 6) for x in sims.std(axis=0) + 1e-6],
        "feature_mean": [round(float(x), 6) for x in feats.mean(axis=0)],
        "feature_std": [round(float(x), 6) for x in feats.std(axis=0) + 1e-6],
    }
    CALIBRATION_FILE.write_text(json.dumps(cal, indent=1) + "\n")
    print(f"wrote {CALIBRATION_FILE} from {len(texts)} texts")


if __name__ == "__main__":
    main()
