"""The hand-labelled reference set, read in one place (data/validation/README.md describes it).

Three parts, each items labelled by reading on all 90 dimensions:

- rounds 1-4 (``items.jsonl``, ``pairs.jsonl``, ``labels_a.jsonl``, ``labels_b.jsonl``,
  ``double_ids.txt``): 1,040 items and 112 sibling pairs, dev and test halves;
- rounds 5 and 6 (``round5/``, ``round6/``): 800 and 2,000 items drawn at random from every
  source, dev and test halves;
- train (``train/``): items drawn to FIT the offline annotator; never used to measure it.

Round 5 and train keep their labels one file a batch (``labels/<batch>.a.jsonl``, the second
labeller's ``labels/<batch>.b.jsonl``), so labellers never write the same file. Every loader
here merges them into the shape rounds 1-4 have: ``labels_a`` / ``labels_b`` dicts by id.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VALIDATION = ROOT / "data" / "validation"
#: The folders of the parts labelled one file a batch.
BATCHED_PARTS = ("round5", "round6", "train")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]


def _labels(folder: Path, labeller: str) -> dict[str, dict]:
    out = {}
    for f in sorted((folder / "labels").glob(f"*.{labeller}.jsonl")) if (folder / "labels").exists() else []:
        out.update({r["id"]: r for r in read_jsonl(f)})
    return out


def load(validation: Path = VALIDATION, splits: tuple[str, ...] = ("dev", "test")) -> dict:
    """Items of ``splits`` ("train", "dev", "test") with labeller A's labels, the sibling pairs of
    those splits, both labellers' labels by id and the ids labelled twice.

    Returns ``{"items", "pairs", "labels": {"labels_a", "labels_b"}, "double_ids"}``; an item
    not yet labelled by A is left out (not measured, not fitted)."""
    labels = {name: {r["id"]: r for r in read_jsonl(validation / f"{name}.jsonl")}
              for name in ("labels_a", "labels_b")}
    items = read_jsonl(validation / "items.jsonl")
    pairs = [p for p in read_jsonl(validation / "pairs.jsonl") if p["split"] in splits]
    double = [x.strip() for x in (validation / "double_ids.txt").read_text().split() if x.strip()]
    for part in BATCHED_PARTS:
        folder = validation / part
        if not (folder / "items.jsonl").exists():
            continue
        items += read_jsonl(folder / "items.jsonl")
        labels["labels_a"].update(_labels(folder, "a"))
        labels["labels_b"].update(_labels(folder, "b"))
        double += [x.strip() for x in (folder / "double_ids.txt").read_text().split() if x.strip()]
    items = [it for it in items if it["split"] in splits and it["id"] in labels["labels_a"]]
    return {"items": items, "pairs": pairs, "labels": labels, "double_ids": double}


def item_labels(ref: dict) -> dict[str, dict]:
    """id -> labeller A's item labels ({dimension: {intensity, evidence}}) of ``ref``'s items."""
    return {it["id"]: ref["labels"]["labels_a"][it["id"]].get("labels", {}) for it in ref["items"]}
