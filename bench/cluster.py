"""Clustering at scale: 100k and 1M points of 384-dimensional embeddings, through the stage's
own functions (stages/cluster/topics.py).

The points are the demo corpus's real comment embeddings (all-MiniLM-L6-v2), replicated
with Gaussian noise (sigma 0.02 per coordinate) and re-normalized, made and assigned 20,000 at
a time as the stage does (never all in memory). Each size runs in a fresh subprocess so its
peak memory is its own. Steps timed: the fit (PCA and HDBSCAN on ``cluster.fit_sample``
points), then the assignment of every other point (``topics.assign``). The baseline in the same
run: ``hdbscan.approximate_predict`` (what the stage called before) on the first 10,000 points
outside the sample, its time per point and the share of labels both give alike. Writes
bench/results/cluster.json. Target (issue 29): 1M points in at most 3 minutes and 1 GB.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
SIZES = (100_000, 1_000_000)


def base_embeddings():
    from alignx.dumps import iter_records
    from alignx.embeddings import EmbeddingCache

    texts = [r["body"] for _, r in iter_records(ROOT / "data/sample/reddit/RC_2024-03.zst")
             if r["body"] not in ("[deleted]", "[removed]")]
    return EmbeddingCache(ROOT / "bench" / ".work" / "embeddings").encode(texts)


def blocks(n: int, seed: int = 0, size: int = 20_000):
    """The ``n`` points, ``size`` at a time."""
    base = base_embeddings()
    rng = np.random.default_rng(seed)
    for start in range(0, n, size):
        k = min(size, n - start)
        block = base[rng.integers(0, len(base), k)] + rng.normal(0, 0.02, (k, base.shape[1])).astype(np.float32)
        yield block / np.linalg.norm(block, axis=1, keepdims=True)


def run(n: int) -> dict:
    import hdbscan

    from pipeline.config import load_config
    from stages.cluster import topics

    p = load_config().section("cluster")
    timings = {"fit_s": 0.0, "assign_s": 0.0}
    labels, model, baseline = [], None, {}
    for i, X in enumerate(blocks(n)):
        t = time.perf_counter()
        if i == 0:  # the points are drawn at random: the first ones are a random sample
            m = min(len(X), p["fit_sample"])
            model = topics.fit(X[:m], p, 0)
            labels.append(model.labels)
            X = X[m:]
            timings["fit_s"] = time.perf_counter() - t
            t = time.perf_counter()
        reduced = model.transform(X)
        ours = topics.assign(model, reduced)
        timings["assign_s"] += time.perf_counter() - t
        labels.append(ours)
        if i == 0 and len(reduced):
            probe = reduced[:10_000]
            t = time.perf_counter()
            theirs, _ = hdbscan.approximate_predict(model.clusterer, probe)
            per = (time.perf_counter() - t) / len(probe)
            baseline = {"approximate_predict_ms_per_point": round(1000 * per, 4),
                        "same_label_share": round(float((theirs == ours[:len(probe)]).mean()), 4)}
    everything = np.concatenate(labels)
    ours_per = timings["assign_s"] / max(n - len(model.labels), 1)
    return {
        "points": n, "fit_sample": len(model.labels), **{k: round(v, 2) for k, v in timings.items()},
        "total_s": round(sum(timings.values()), 2), "assign_ms_per_point": round(1000 * ours_per, 4), **baseline,
        "assign_speedup_vs_approximate_predict": round(baseline["approximate_predict_ms_per_point"] / 1000 / ours_per, 1)
        if baseline and ours_per else None,
        "topics": model.n_topics, "noise_share": round(float((everything == -1).mean()), 3),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }


def main() -> None:
    results = []
    for n in SIZES:
        proc = subprocess.run([sys.executable, "-m", "bench.cluster", "--child", str(n)], cwd=ROOT,
                              capture_output=True, text=True)
        if proc.returncode:
            raise SystemExit(proc.stderr)
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(results[-1], file=sys.stderr)
    report = {"runs": results, "targets": {"points": 1_000_000, "total_s_max": 180, "peak_rss_mb_max": 1024}}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cluster.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(run(int(sys.argv[2]))))
    else:
        main()
