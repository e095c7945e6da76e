"""The trained predictor on a release built from real threads: does the persona add accuracy?

Usage: python -m bench.evaluate_trained DATA_DIR "what the release was built from"
DATA_DIR holds a release built by ``alignx run`` (``release/0.1.0``), e.g. from the r/ethereum
daily threads (see the README's "Stage `evaluate`"). Fits the trained head and its no-persona
twin on the release's train split (from scratch: DATA_DIR/cache/trained is removed first, so the
time is a fit's, not a cache read; text embeddings already in DATA_DIR/cache are reused), and evaluates both, with the shortcut baselines and the untrained embedding
predictor, on the release's test split and on P-SOUPS (student/PhD). Timing baseline in the same
run: the untrained embedding predictor scoring the same test split. Adds (or replaces) this
release's entry in bench/results/evaluate_trained.json.
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
PSOUPS = ROOT.parent / "shared" / "data" / "benchmarks" / "p-soups_student_phd.json"


def main(data_dir: str | None = None, built_from: str = "") -> dict:
    import polars as pl

    from pipeline.config import load_config
    from stages.evaluate.predictors import EmbeddingPredictor, load_examples
    from stages.evaluate.stage import Predictors, train_files_of

    data_dir = Path(data_dir or sys.argv[1])
    built_from = built_from or (sys.argv[2] if len(sys.argv) > 2 else "")
    release = data_dir / "release" / "0.1.0"
    train = train_files_of(release)
    config = load_config()
    cache = data_dir / "cache"
    shutil.rmtree(cache / "trained", ignore_errors=True)  # time a fit, not a read of a fitted head
    start = time.perf_counter()
    predictors = Predictors(config, cache, train, ["embedding", "trained"])
    train_s = time.perf_counter() - start
    test = load_examples(release)
    start = time.perf_counter()
    EmbeddingPredictor(predictors.embedder).scores([e for e in test if e["persona_type"] == "all"], "all")
    baseline_s = time.perf_counter() - start
    out = {"built_from": built_from, "release": str(release),
           "train_examples": sum(pl.read_parquet(f).height for f in train),
           "train_reddit_examples": sum(pl.read_parquet(f).filter(pl.col("source") == "reddit").height for f in train),
           "test_targets": sum(e["persona_type"] == "all" for e in test),
           "trained_head": predictors.heads.meta, "training_s": round(train_s, 2),
           "baseline_embedding_predictor_s": round(baseline_s, 2),
           "training_over_baseline": round(train_s / baseline_s, 2) if baseline_s else None, "datasets": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for name, examples, benchmark in (("release-test", test, False),
                                          ("p-soups_student_phd", load_examples(PSOUPS), True)):
            report = predictors.report(name, examples, Path(tmp) / name, benchmark=benchmark, config=config)
            out["datasets"][name] = {k: report[k] for k in ("examples", "distinct_items", "results", "persona_gain",
                                                             "chosen_longer_share", "shortcut_flags")}
            out["datasets"][name]["leakage"] = report["leakage"]["status"]
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "evaluate_trained.json"
    runs = json.loads(path.read_text())["runs"] if path.exists() else []
    runs = [r for r in runs if r["built_from"] != built_from] + [out]  # one entry per release
    path.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    return out


if __name__ == "__main__":
    result = main()
    for name, d in result["datasets"].items():
        print(name, [(g["persona"], g["trained"], g["no_persona"], g["gain"], g["ci95"]) for g in d["persona_gain"]])
