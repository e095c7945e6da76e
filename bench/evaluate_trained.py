"""The trained predictor on a release built from real threads: does the persona add accuracy?

One command builds the release and measures it (reproducible: the same window, config and seed
give the same release and the same figures):

    python -m bench.evaluate_trained --data-dir /tmp/eth --from 2025-02-01 --to 2025-05-01

1. Build: ``alignx run`` (every stage up to emit) on the r/ethereum daily threads (``../shared/data/reddit/ethereum_daily``)
   restricted to [FROM, TO) with ``ingest_reddit.date_from/date_to``, default config otherwise.
   Up-to-date stages are skipped, so a second call only re-measures. ``--no-build`` measures the
   release already in DATA_DIR.
2. Fit the trained head and its no-persona twin on the release's train split, from scratch
   (DATA_DIR/cache/trained is removed first, so the time is a fit's, not a cache read; text
   embeddings already in DATA_DIR/cache are reused, as a user's rerun would). Embedding uses the
   GPU when torch sees one.
3. Evaluate both, with the profile (consistency), independent and embedding predictors and the
   shortcut baselines, on the release's test split and on P-SOUPS (student/PhD), with
   cluster-bootstrap intervals. Timing baseline in the same run: the untrained embedding
   predictor scoring the same test split.

Adds (or replaces) this window's entry in bench/results/evaluate_trained.json; the reports
(report.md, accuracy.png, trained_head.*) land in DATA_DIR/work/evaluate/bench/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SHARED = Path(os.environ.get("ALIGNX_SHARED_DATA", ROOT.parent / "shared" / "data"))
THREADS = SHARED / "reddit" / "ethereum_daily"
PSOUPS = SHARED / "benchmarks" / "p-soups_student_phd.json"
PREDICTORS = ["profile", "independent", "embedding", "trained"]


def git_head() -> str:
    proc = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return proc.stdout.strip() or "?"


def build(data_dir: Path, date_from: str, date_to: str) -> float:
    """``alignx run`` on the daily threads of [date_from, date_to) into data_dir; seconds taken."""
    data_dir.mkdir(parents=True, exist_ok=True)
    sample = ROOT / "data" / "sample"
    if sample.exists() and not (data_dir / "sample").exists():
        shutil.copytree(sample, data_dir / "sample")  # the alignment-dataset samples the default config reads
    from cli.stages import build as stage_list

    # every stage but evaluate: the measurement below is the evaluation (run with the bench's predictors)
    names = [s.name for s in stage_list() if s.name != "evaluate"]
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "cli", "run", *names, "--data-dir", str(data_dir),
                    "--set", f'ingest_reddit.inputs=["{THREADS}"]',
                    "--set", f"ingest_reddit.date_from={date_from}", "--set", f"ingest_reddit.date_to={date_to}"],
                   check=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    return time.perf_counter() - start


def measure(data_dir: Path, built_from: str) -> dict:
    import polars as pl

    from pipeline.config import load_config
    from stages.evaluate.predictors import EmbeddingPredictor, load_examples
    from stages.evaluate.stage import Predictors, train_files_of

    from stages.emit.stage import release_dir

    config = load_config()
    release = release_dir(config, data_dir)
    train = train_files_of(release)
    cache = data_dir / "cache"
    shutil.rmtree(cache / "trained", ignore_errors=True)  # time a fit, not a read of a fitted head
    start = time.perf_counter()
    predictors = Predictors(config, cache, train, PREDICTORS)
    train_s = time.perf_counter() - start
    test = load_examples(release)
    start = time.perf_counter()
    EmbeddingPredictor(predictors.embedder).scores([e for e in test if e["persona_type"] == "all"], "all")
    baseline_s = time.perf_counter() - start
    import torch

    out = {"built_from": built_from, "release": str(release),
           "device": "cuda" if torch.cuda.is_available() else f"cpu ({os.cpu_count()} cores)",
           "train_examples": sum(pl.read_parquet(f).height for f in train),
           "train_reddit_examples": sum(pl.read_parquet(f).filter(pl.col("source") == "reddit").height for f in train),
           "test_targets": sum(e["persona_type"] == "all" for e in test),
           "trained_head": {k: v for k, v in predictors.heads.meta.items() if k != "cached"},
           "training_s": round(train_s, 2),
           "baseline_embedding_predictor_s": round(baseline_s, 2),
           "training_over_baseline": round(train_s / baseline_s, 2) if baseline_s else None, "datasets": {}}
    reports = data_dir / "work" / "evaluate" / "bench"
    for name, examples, benchmark in (("release-test", test, False),
                                      ("p-soups_student_phd", load_examples(PSOUPS), True)):
        report = predictors.report(name, examples, reports / name, benchmark=benchmark, config=config)
        out["datasets"][name] = {k: report[k] for k in ("examples", "distinct_items", "results", "persona_gain",
                                                         "chosen_longer_share", "shortcut_flags")}
        out["datasets"][name]["leakage"] = report["leakage"]
    return out


def save(out: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / "evaluate_trained.json"
    runs = json.loads(path.read_text())["runs"] if path.exists() else []
    runs = [r for r in runs if r["built_from"] != out["built_from"]] + [out]  # one entry per release
    tmp = path.with_name(".tmp-" + path.name)
    tmp.write_text(json.dumps({"runs": runs}, indent=2) + "\n")
    tmp.replace(path)
    return path


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.evaluate_trained", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, type=Path, help="where the release is (or will be) built")
    ap.add_argument("--from", dest="date_from", default="2025-02-01", help="first day of threads (YYYY-MM-DD)")
    ap.add_argument("--to", dest="date_to", default="2025-05-01", help="day after the last (YYYY-MM-DD)")
    ap.add_argument("--no-build", action="store_true", help="measure the release already in --data-dir")
    ap.add_argument("--built-from", default="", help="what the release was built from (with --no-build)")
    args = ap.parse_args(argv)
    build_s = None if args.no_build else build(args.data_dir, args.date_from, args.date_to)
    built_from = args.built_from or (f"r/ethereum daily threads, {args.date_from} to {args.date_to} (exclusive), "
                                     f"default config, commit {git_head()}")
    out = measure(args.data_dir, built_from)
    out["build_s"] = None if build_s is None else round(build_s, 1)
    out["command"] = (f"python -m bench.evaluate_trained --data-dir DIR --from {args.date_from} --to {args.date_to}"
                      + (" --no-build" if args.no_build else ""))
    print(f"results in {save(out)}")
    return out


if __name__ == "__main__":
    result = main()
    print(f"train {result['train_examples']} examples ({result['train_reddit_examples']} Reddit), "
          f"test {result['test_targets']} targets; training {result['training_s']} s")
    for name, d in result["datasets"].items():
        for g in d["persona_gain"]:
            print(f"{name} {g['persona']}: trained {100 * g['trained']:.1f} no-persona {100 * g['no_persona']:.1f} "
                  f"gain {100 * g['gain']:+.1f} [{100 * g['ci95'][0]:+.1f}, {100 * g['ci95'][1]:+.1f}]")
        for f in d["shortcut_flags"]:
            print(f"{name} {f}")
